"""The console's in-browser plate reader (issue 12): what its page must allow beyond the base policy.

tesseract.js compiles its WebAssembly core in a worker loaded from our own /static files: script-src needs
'wasm-unsafe-eval' (it allows compiling WebAssembly, not eval of JavaScript). The worker, its core, and the
English data come from /static/parking/vendor/tesseract-<version>/ ('self'), so nothing else is added.

The page includes "parking/plate_scan.html" (the camera button, its status line and parking/plate_scan.js);
its sentences are registered by importing this module."""

from __future__ import annotations

import parking.plate_scan_messages  # noqa: F401  (registers the camera button's sentences)

PLATE_SCAN_CSP: dict[str, str] = {"script-src": "'wasm-unsafe-eval'"}
