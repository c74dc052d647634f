#!/usr/bin/env bash
# Copy the front-end assets citybrain serves from npm into the package, where they are committed:
# the service never fetches anything at run time (government intranets have no internet).
#   - MapLibre GL JS (pinned in package.json), with its licence
#   - Leaflet, which the planners' folium maps embed (notebooks run on an intranet too)
#   - pmtiles, MapLibre's protocol for PMTiles archives
#   - glyphs (SDF protobufs) of DejaVu Sans for the Latin part of map labels, made by fontnik;
#     Chinese is drawn by the browser's own fonts (MapLibre's localIdeographFontFamily)
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund

maplibre=citybrain/static/vendor/maplibre-gl
mkdir -p "$maplibre"
cp node_modules/maplibre-gl/dist/maplibre-gl.js node_modules/maplibre-gl/dist/maplibre-gl.css \
   node_modules/maplibre-gl/LICENSE.txt "$maplibre/"
node -p "require('./node_modules/maplibre-gl/package.json').version" > "$maplibre/VERSION"

leaflet=citybrain/static/vendor/leaflet
mkdir -p "$leaflet"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
   node_modules/leaflet/LICENSE "$leaflet/"

# The pmtiles protocol for MapLibre: the big screen draws the static layers from a tile archive
# on a static host when asked (/?archive=true; `citybrain tiles export`).
pmtiles=citybrain/static/vendor/pmtiles
mkdir -p "$pmtiles"
cp node_modules/pmtiles/dist/pmtiles.js "$pmtiles/"
node -p "require('./node_modules/pmtiles/package.json').version" > "$pmtiles/VERSION"
node -p "'pmtiles ' + require('./node_modules/pmtiles/package.json').license + ' licence, Copyright (c) Protomaps LLC: https://github.com/protomaps/PMTiles/blob/main/LICENSE'" > "$pmtiles/LICENSE"

fonts="citybrain/static/fonts/DejaVu Sans Book"
work=$(mktemp -d)
node_modules/.bin/build-glyphs node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf "$work"
mkdir -p "$fonts"
for range in 0-255 256-511 8192-8447; do cp "$work/$range.pbf" "$fonts/"; done
cp node_modules/dejavu-fonts-ttf/LICENSE "$fonts/LICENSE"
rm -rf "$work"
echo "vendored maplibre-gl $(cat "$maplibre/VERSION"), leaflet and $(ls "$fonts" | grep -c pbf) glyph ranges"
