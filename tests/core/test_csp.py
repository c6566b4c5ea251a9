"""Issue 8, point 20 (CSP part): every page's scripts are files under /static, the Content-Security-Policy
allows no inline script, and no template holds an inline script or an inline event handler (onclick=…) that
the policy would now silently block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.static import FILES, static_url
from tests.parking.conftest import attendant, lots  # noqa: F401  (fixtures)
from tests.payments.conftest import catalogue  # noqa: F401  (a fixture)
from tests.payments.test_pay_pages import issue, pay, receipt_of

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = sorted(
    p
    for pkg in ("core", "ledger", "payments", "parking", "banksim")
    for p in (ROOT / pkg / "templates").glob("*.html")
)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
PAGE = {"Accept": "text/html"}


def inline_scripts(html: str) -> list[str]:
    """Script elements a browser would run from the page itself (JSON data blocks are not run)."""
    found = []
    for attrs, body in SCRIPT_TAG.findall(html):
        if "src=" in attrs:
            assert not body.strip(), "a script with src has no body"
            continue
        if 'type="application/json"' in attrs:
            continue
        found.append(body.strip()[:80])
    return found


def assert_strict_page(resp, html: str, wasm: bool = False) -> None:
    """wasm: the page runs the in-browser plate reader, whose WebAssembly needs 'wasm-unsafe-eval' (it
    allows compiling WebAssembly, never eval of JavaScript)."""
    csp = resp.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}
    assert directives["script-src"] == ["'self'"] + (["'wasm-unsafe-eval'"] if wasm else []), csp
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in csp
    assert not inline_scripts(html), inline_scripts(html)
    assert not EVENT_HANDLER.search(html), EVENT_HANDLER.search(html).group(0)
    assert "javascript:" not in html.lower()
    for src in re.findall(r'<script[^>]*\ssrc="([^"]+)"', html):
        assert src.startswith("/static/"), src


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_no_template_has_inline_scripts_or_event_handlers(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    assert not inline_scripts(text), f"{template.name}: move the script to <package>/static/"
    assert not EVENT_HANDLER.search(text), f"{template.name}: use addEventListener in a static script"
    for name in re.findall(r"static_url\('([^']+)'\)", text):
        assert name in FILES, name


async def test_console_pages_run_only_static_scripts(client, attendant):  # noqa: F811
    for url in ("/parking/console", "/parking/console/hk-hang-dau"):
        resp = await client.get(url, headers={**attendant.headers(), **PAGE})
        assert resp.status == 200
        assert_strict_page(resp, await resp.text(), wasm=url != "/parking/console")
    html = await (await client.get("/parking/console/hk-hang-dau", headers=attendant.headers())).text()
    assert static_url("parking/console.js") in html


@pytest.mark.usefixtures("lots")
async def test_public_pages_run_only_static_scripts(client):
    for url in ("/", "/parking", "/login", "/no-such-page"):
        resp = await client.get(url, headers=PAGE)
        assert_strict_page(resp, await resp.text())


@pytest.mark.usefixtures("catalogue")
async def test_pay_page_and_receipt_run_only_static_scripts(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}")
    html = await resp.text()
    assert resp.status == 200 and static_url("payments/pay.js") in html
    assert_strict_page(resp, html)
    await pay(db_url, keys, pr["reference"], 200_000)
    receipt = await receipt_of(db_url, pr["id"])
    resp = await client.get(f"/receipts/{receipt['id']}")
    html = await resp.text()
    assert resp.status == 200 and static_url("payments/receipt.js") in html and 'id="print"' in html
    assert_strict_page(resp, html)


async def test_static_files_have_their_type_and_are_cached_by_version(client):
    versioned = await client.get(static_url("parking/console.js"))
    assert versioned.status == 200
    assert versioned.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert versioned.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in versioned.headers["Cache-Control"]
    assert "addEventListener" in await versioned.text()
    plain = await client.get("/static/parking/console.js")
    assert plain.status == 200 and plain.headers["Cache-Control"] == "no-cache"
    etag = plain.headers["ETag"]
    again = await client.get("/static/parking/console.js", headers={"If-None-Match": etag})
    assert again.status == 304
    stale = await client.get("/static/parking/console.js?v=0000000000000000")
    assert stale.headers["Cache-Control"] == "no-cache"  # an old page's URL is never pinned for a year


@pytest.mark.parametrize(
    "path",
    [
        "/static/parking/nothing.js",
        "/static/parking/..%2Fsessions.py",
        "/static/parking/../sessions.py",
        "/static/parking/sessions.py",
        "/static/core/..%2F..%2Fpyproject.toml",
        "/static/tests/conftest.py",
        "/static/parking/console.js%00.py",
    ],
)
async def test_only_known_static_files_are_served(client, path):
    resp = await client.get(path)
    assert resp.status == 404, (path, resp.status)
    assert resp.status != 500
