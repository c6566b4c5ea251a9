"""A file sent to the service, as a raw body or as a browser form's `file` field (multipart/form-data), read
in chunks and never more than the caller's limit held: a body announced or found larger is a 413 before
anything is stored. Statement uploads and beneficiary imports both come this way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

CHUNK = 64 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # part headers and the small fields beside the file
SMALL_FIELD_BYTES = 200


@dataclass
class UploadedFile:
    data: bytes
    filename: str | None  # as the browser named it, cut to its base name and printable characters
    fields: dict[str, str] = field(default_factory=dict)  # the small text fields asked for, when sent
    content_type: str = ""  # of a raw body; "multipart/form-data" for a form


async def read_file_upload(
    request: web.Request,
    *,
    limit: int,
    too_large: Callable[[], PayloadTooLarge],
    raw_types: Collection[str],
    small_fields: Collection[str] = (),
) -> UploadedFile:
    """The file of a raw body whose Content-Type is one of `raw_types`, or of a multipart form (one `file`
    part, plus the `small_fields` as UTF-8 text of at most 200 bytes each; other parts are skipped)."""
    ctype = request.content_type
    overhead = MULTIPART_OVERHEAD if ctype == "multipart/form-data" else 0
    if request.content_length is not None and request.content_length > limit + overhead:
        raise too_large()
    if ctype == "multipart/form-data":
        return await _read_multipart(request, limit, too_large, small_fields)
    if ctype not in raw_types:
        raise UnsupportedMediaType(
            f"send the file as {', '.join(sorted(raw_types))} or multipart/form-data (got {ctype!r})"
        )
    data = await _bounded(request.content.iter_chunked(CHUNK), limit, too_large)
    return UploadedFile(data, None, content_type=ctype)


async def _read_multipart(
    request: web.Request, limit: int, too_large: Callable[[], PayloadTooLarge], small_fields: Collection[str]
) -> UploadedFile:
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise ValidationFailed(f"the multipart body cannot be read: {exc}", field="file") from None
    data: bytes | None = None
    filename: str | None = None
    fields: dict[str, str] = {}
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ValidationFailed("nested multipart bodies are not read", field="file")
            if part.name == "file":
                if data is not None:
                    raise ValidationFailed("send one file per upload", field="file")
                data = await _bounded(_part_chunks(part), limit, too_large)
                filename = part.filename
            elif part.name is not None and part.name in small_fields:
                fields[part.name] = await _small_text(part, part.name)
            else:
                await part.release()
    except ValueError as exc:  # a malformed part: bad boundary, headers
        raise ValidationFailed(f"the multipart body cannot be read: {exc}", field="file") from None
    if data is None:
        raise ValidationFailed("no file in the upload (field `file`)", field="file")
    return UploadedFile(data, safe_filename(filename), fields, "multipart/form-data")


def safe_filename(name: str | None) -> str | None:
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:255]
    return name or None


async def _bounded(
    chunks: AsyncIterator[bytes], limit: int, too_large: Callable[[], PayloadTooLarge]
) -> bytes:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise too_large()
    return bytes(buffer)


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _small_text(part: BodyPartReader, name: str) -> str:
    def refuse() -> PayloadTooLarge:
        return PayloadTooLarge(f"{name}: at most {SMALL_FIELD_BYTES} bytes", field=name)

    raw = await _bounded(_part_chunks(part), SMALL_FIELD_BYTES, refuse)
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValidationFailed(f"{name}: not UTF-8 text", field=name) from None
