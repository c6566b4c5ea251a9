"""Reading a bank's XML without letting the file reach anything but itself.

lxml runs with entities unresolved, no network, no DTD loading and libxml2's own size limits on
(`huge_tree=False`); on top of that any DOCTYPE or ENTITY declaration is refused before parsing (an XML
statement never needs one: external entities read local files, "billion laughs" eats memory), the file size
is capped, and depth and element count are watched while parsing so a hostile file stops early.
Only encodings that are ASCII-compatible are read, so the byte scan for "<!DOCTYPE" cannot be dodged by
UTF-16."""

from __future__ import annotations

import io
import re

from lxml import etree

from reconciliation.statement import StatementRefused

MAX_BYTES = 50 * 1024 * 1024  # one day's statement of a busy account is a few MB
# MT940 is read line by line (memory grows with the lines, not with a tree): a day of 1,000,000 lines is
# ~100 MB. The upload route and the CLI still apply CITYPAY_STATEMENT_MAX_BYTES first.
MAX_TEXT_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 40  # camt.053 goes ~15 deep (Document … RltdPties/Dbtr/Pty/PstlAdr/AdrLine)
MAX_ELEMENTS = 3_000_000  # ~ 100 000 entries of ~30 elements; 50 MB holds fewer anyway
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def check_size(data: bytes, *, limit: int = MAX_BYTES) -> None:
    if len(data) > limit:
        raise StatementRefused(f"file of {len(data):,} bytes is over the {limit // 1024 // 1024} MB limit")
    if not data.strip():
        raise StatementRefused("empty file")


def parse_xml(data: bytes) -> etree._Element:
    """The root element of `data`, or StatementRefused saying why the file is not safe or not XML."""
    check_size(data)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:200]:
        raise StatementRefused("XML in UTF-16/UTF-32 is not accepted: send UTF-8")
    if _DECLARATION.search(data):
        raise StatementRefused("XML with a DOCTYPE or ENTITY declaration is refused (a statement needs none)")
    depth = count = 0
    root: etree._Element | None = None
    try:
        for event, element in etree.iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        ):
            if event == "end":
                depth -= 1
                continue
            if root is None:
                root = element
                if root.getroottree().docinfo.doctype:
                    raise StatementRefused("XML with a DOCTYPE is refused")
            depth += 1
            count += 1
            if depth > MAX_DEPTH:
                raise StatementRefused(f"XML nested deeper than {MAX_DEPTH} elements")
            if count > MAX_ELEMENTS:
                raise StatementRefused(f"XML with more than {MAX_ELEMENTS:,} elements")
    except etree.XMLSyntaxError as exc:
        raise StatementRefused(f"not well-formed XML: {exc}") from None
    if root is None:
        raise StatementRefused("no XML element in the file")
    for node in root.iter():
        if not isinstance(node.tag, str):  # an unresolved entity reference survived as its own node
            raise StatementRefused("XML with entity references is refused")
    return root


def namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""
