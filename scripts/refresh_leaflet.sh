#!/bin/sh
# Re-download the vendored map library of the public lot search (Leaflet) from npm at the pinned version and
# copy the files the page loads into parking/static/vendor/leaflet-$LEAFLET/: the script, its style sheet,
# the default marker images (the page points its marker icon at them by URL, so the folder stays flat) and
# the licence. Nothing is fetched from a CDN at run time; only the map tiles come from OpenStreetMap.
#
# Usage: scripts/refresh_leaflet.sh   (needs npm and network access; run from anywhere)
# To move to a new version: change the pin, run, then change LEAFLET in parking/public_pages.py.
set -eu

LEAFLET=1.9.4

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/parking/static/vendor/leaflet-$LEAFLET"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "leaflet@$LEAFLET" >/dev/null
tar xzf "leaflet-$LEAFLET.tgz"

rm -rf "$DEST"
mkdir -p "$DEST"
cp package/dist/leaflet.js package/dist/leaflet.css "$DEST/"
cp package/dist/images/marker-icon.png package/dist/images/marker-icon-2x.png \
    package/dist/images/marker-shadow.png package/dist/images/layers.png package/dist/images/layers-2x.png "$DEST/"
cp package/LICENSE "$DEST/LICENSE"
cp package/LICENSE "$DEST/LICENSE.txt"  # served beside the script (a file without a suffix is not)
echo "Leaflet $LEAFLET copied to $DEST"
