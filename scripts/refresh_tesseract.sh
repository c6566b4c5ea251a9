#!/bin/sh
# Re-download the vendored in-browser plate reader (tesseract.js, its WebAssembly core and the English LSTM
# data) from npm at the pinned versions and copy the files the console loads into
# parking/static/vendor/tesseract-$TESSERACT_JS/. Nothing is fetched from a CDN at run time: parking/static/
# plate_scan.js points workerPath, corePath and langPath at these files.
#
# Usage: scripts/refresh_tesseract.sh   (needs npm and network access; run from anywhere)
# To move to a new version: change the pins, run, then rename the folder reference in plate_scan.js/.html.
set -eu

TESSERACT_JS=7.0.0        # tesseract.js: tesseract.min.js (page) and worker.min.js (Web Worker)
TESSERACT_CORE=7.0.0      # tesseract.js-core: the WebAssembly build of Tesseract (must match tesseract.js)
TESSDATA_ENG=1.0.0        # @tesseract.js-data/eng: eng.traineddata.gz (4.0.0_best_int, LSTM only)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/parking/static/vendor/tesseract-$TESSERACT_JS"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "tesseract.js@$TESSERACT_JS" "tesseract.js-core@$TESSERACT_CORE" \
    "@tesseract.js-data/eng@$TESSDATA_ENG" >/dev/null
for pkg in js core data; do mkdir "$pkg"; done
tar xzf "tesseract.js-$TESSERACT_JS.tgz" -C js
tar xzf "tesseract.js-core-$TESSERACT_CORE.tgz" -C core
tar xzf "tesseract.js-data-eng-$TESSDATA_ENG.tgz" -C data

rm -rf "$DEST"
mkdir -p "$DEST"
cp js/package/dist/tesseract.min.js js/package/dist/worker.min.js "$DEST/"
cp js/package/dist/tesseract.min.js.LICENSE.txt js/package/dist/worker.min.js.LICENSE.txt "$DEST/"
cp js/package/LICENSE.md "$DEST/LICENSE-tesseract.js.md"
cp core/package/LICENSE "$DEST/LICENSE-tesseract.js-core.txt"
# Only the LSTM-only cores (the reader never uses the legacy engine), each as a loader plus its .wasm, which
# the loader fetches from the worker's own folder: relaxed SIMD (current Chromium), SIMD (Safari, Firefox),
# and plain WebAssembly as the fallback. plate_scan.js picks one by feature detection.
for variant in relaxedsimd-lstm simd-lstm lstm; do
    cp "core/package/tesseract-core-$variant.js" "core/package/tesseract-core-$variant.wasm" "$DEST/"
done
cp data/package/4.0.0_best_int/eng.traineddata.gz "$DEST/eng.traineddata.gz"

# The minified scripts name source maps that are not vendored: drop the comment so browsers do not ask.
sed -i 's|//# sourceMappingURL=[^ ]*$||' "$DEST/tesseract.min.js" "$DEST/worker.min.js"

cat >"$DEST/VERSIONS.txt" <<NOTE
Vendored by scripts/refresh_tesseract.sh from npm:
  tesseract.js $TESSERACT_JS (Apache-2.0, LICENSE-tesseract.js.md; bundled notices in *.LICENSE.txt)
  tesseract.js-core $TESSERACT_CORE (Apache-2.0, LICENSE-tesseract.js-core.txt)
  @tesseract.js-data/eng $TESSDATA_ENG (MIT package), eng.traineddata.gz from its 4.0.0_best_int folder:
    the tessdata_best English model of the Tesseract OCR project (Apache-2.0, same terms as the core).
NOTE
chmod 644 "$DEST"/*
du -sh "$DEST"
