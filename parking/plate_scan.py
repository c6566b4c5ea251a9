"""The console's in-browser plate reader (issue 12): what its page must allow beyond the base policy.

tesseract.js compiles its WebAssembly core in a worker loaded from our own /static files: script-src needs
'wasm-unsafe-eval' (it allows compiling WebAssembly, not eval of JavaScript)."""

from __future__ import annotations

PLATE_SCAN_CSP: dict[str, str] = {"script-src": "'wasm-unsafe-eval'"}
