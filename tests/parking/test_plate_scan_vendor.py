"""The plate reader's vendored files (issue 12, point 5): served by the app itself with the types a browser
needs (WebAssembly compiles only from application/wasm; the language data is unpacked by the script, so it
must not arrive with a Content-Encoding), pinned by scripts/refresh_tesseract.sh, with their licences."""

from __future__ import annotations

import re
from pathlib import Path

from core.static import FILES, static_url

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "parking" / "static" / "vendor"


def _pins() -> dict[str, str]:
    script = (ROOT / "scripts" / "refresh_tesseract.sh").read_text()
    return dict(re.findall(r"^(TESSERACT_JS|TESSERACT_CORE|TESSDATA_ENG)=(\S+)", script, re.M))


def test_the_folder_is_the_pinned_version_with_licences_and_only_what_is_loaded() -> None:
    pins = _pins()
    assert set(pins) == {"TESSERACT_JS", "TESSERACT_CORE", "TESSDATA_ENG"}
    folder = VENDOR / f"tesseract-{pins['TESSERACT_JS']}"
    names = {p.name for p in folder.iterdir()}
    cores = {f"tesseract-core-{v}-lstm{ext}" for v in ("relaxedsimd", "simd") for ext in (".js", ".wasm")}
    cores |= {"tesseract-core-lstm.js", "tesseract-core-lstm.wasm"}
    assert names == cores | {
        "tesseract.min.js",
        "worker.min.js",
        "eng.traineddata.gz",
        "tesseract.min.js.LICENSE.txt",
        "worker.min.js.LICENSE.txt",
        "LICENSE-tesseract.js.md",
        "LICENSE-tesseract.js-core.txt",
        "VERSIONS.txt",
    }
    assert "Apache License" in (folder / "LICENSE-tesseract.js.md").read_text()
    assert "Apache License" in (folder / "LICENSE-tesseract.js-core.txt").read_text()
    assert pins["TESSERACT_CORE"] in (folder / "VERSIONS.txt").read_text()
    # The template names the same folder.
    template = (ROOT / "parking" / "templates" / "plate_scan.html").read_text()
    assert f'"parking/vendor/tesseract-{pins["TESSERACT_JS"]}/"' in template
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 13_000_000, total


async def test_served_with_the_types_the_browser_needs(client) -> None:
    base = "parking/vendor/tesseract-7.0.0/"
    expected = {
        "tesseract-core-relaxedsimd-lstm.wasm": "application/wasm",
        "tesseract-core-relaxedsimd-lstm.js": "text/javascript; charset=utf-8",
        "worker.min.js": "text/javascript; charset=utf-8",
        "eng.traineddata.gz": "application/octet-stream",
        "LICENSE-tesseract.js-core.txt": "text/plain; charset=utf-8",
    }
    for name, content_type in expected.items():
        resp = await client.get(static_url(base + name), headers={"Accept-Encoding": "gzip"})
        assert resp.status == 200, name
        assert resp.headers["Content-Type"] == content_type, name
        assert "Content-Encoding" not in resp.headers, name
        assert "immutable" in resp.headers["Cache-Control"], name
        body = await resp.read()
        assert body == FILES[base + name].path.read_bytes(), name
    # The WebAssembly core's loader fetches its .wasm without the version: still served, revalidated.
    resp = await client.get(f"/static/{base}tesseract-core-lstm.wasm")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"
    # Nothing outside the index: a name with a path in it, or a file that is not there.
    for bad in ("tesseract-core-lstm.wasm.js", "..%2F..%2Fplates.py", "eng.traineddata"):
        resp = await client.get(f"/static/{base}{bad}")
        assert resp.status == 404, bad
