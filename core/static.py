"""Static scripts and styles of the pages, served by the app itself from `<package>/static/`.

Pages load their script from here rather than inline, so the Content-Security-Policy can say
`script-src 'self'` without 'unsafe-inline': an injected `<script>` or `onclick=` then does not run.

Only files that exist at start-up, with a plain name and a known type, are served (no path from the request
reaches the file system). Templates link them through `static_url('parking/console.js')`, which adds the
file's content hash: a URL with the current hash is cached for a year (`immutable`), anything else is
revalidated, so a deploy never leaves a browser running an old script against a new page.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from core.api import PUBLIC, Routes
from core.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
# Every package with a static/ folder (core names no capability): reconciliation/static/… works as it appears.
PACKAGES = tuple(sorted(d.parent.name for d in ROOT.glob("*/static") if (d.parent / "__init__.py").is_file()))
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Vendored third-party files (static/vendor/<name>-<version>/…) may also be these: a browser OCR engine's
# WebAssembly core and language data, a map library's marker images, and the licences that come with them.
VENDOR_TYPES = {
    **CONTENT_TYPES,
    ".wasm": "application/wasm",
    ".gz": "application/octet-stream",  # fetched and unpacked by the script itself: no Content-Encoding
    ".traineddata": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,60}\.(js|css)")
_VENDOR_DIR = re.compile(r"[a-z0-9][a-z0-9_.-]{0,60}")
_VENDOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")

routes = Routes(tags=("static",))


@dataclass(frozen=True)
class StaticFile:
    path: Path
    content_type: str
    version: str  # the first 16 hex digits of the content's SHA-256


def _index() -> dict[str, StaticFile]:
    files = {}
    for package in PACKAGES:
        folder = ROOT / package / "static"
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and _NAME.fullmatch(path.name):
                files[f"{package}/{path.name}"] = _static(path, CONTENT_TYPES[path.suffix])
        vendor = folder / "vendor"
        for lib in sorted(vendor.iterdir()) if vendor.is_dir() else ():
            if not (lib.is_dir() and _VENDOR_DIR.fullmatch(lib.name)):
                continue
            for path in sorted(lib.iterdir()):
                if path.is_file() and _VENDOR_NAME.fullmatch(path.name) and path.suffix in VENDOR_TYPES:
                    name = f"{package}/vendor/{lib.name}/{path.name}"
                    files[name] = _static(path, VENDOR_TYPES[path.suffix])
    return files


def _static(path: Path, content_type: str) -> StaticFile:
    return StaticFile(path, content_type, hashlib.sha256(path.read_bytes()).hexdigest()[:16])


FILES = _index()


def static_url(name: str) -> str:
    """`/static/parking/console.js?v=<hash>` for a template; raises KeyError for a file that does not exist,
    so a typo fails the page's test rather than a browser."""
    return f"/static/{name}?v={FILES[name].version}"


@routes.get(
    "/static/{package:[a-z]+}/{name:[a-z0-9][a-z0-9_.-]{0,64}}",
    access=PUBLIC,
    summary="A page's script or style sheet",
    in_openapi=False,
    produces="text/javascript",
)
async def static_file(request: web.Request) -> web.StreamResponse:
    return _serve(request, FILES.get(f"{request.match_info['package']}/{request.match_info['name']}"))


@routes.get(
    "/static/{package:[a-z]+}/vendor/{lib:[a-z0-9][a-z0-9_.-]{0,60}}/{name:[A-Za-z0-9][A-Za-z0-9_.-]{0,80}}",
    access=PUBLIC,
    summary="A vendored library's file (script, WebAssembly, data, image, licence)",
    in_openapi=False,
    produces="application/octet-stream",
)
async def vendor_file(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    return _serve(request, FILES.get(f"{m['package']}/vendor/{m['lib']}/{m['name']}"))


def _serve(request: web.Request, found: StaticFile | None) -> web.StreamResponse:
    if found is None:
        raise NotFound("no such file")
    cache = IMMUTABLE if request.query.get("v") == found.version else REVALIDATE
    return web.FileResponse(
        found.path,
        headers={
            "Content-Type": found.content_type,
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
        },
    )
