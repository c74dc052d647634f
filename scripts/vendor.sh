#!/usr/bin/env bash
# Copy the front-end assets citybrain serves from npm into the package, where they are committed:
# the service never fetches anything at run time (government intranets have no internet).
#   - MapLibre GL JS (pinned in package.json), with its licence
#   - Leaflet, which the planners' folium maps embed (notebooks run on an intranet too)
#   - pmtiles, MapLibre's protocol for PMTiles archives
#   - Swagger UI and ReDoc, which draw the API's own documentation at /docs and /redoc
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

# The API's documentation pages (/docs, /redoc: citybrain/api/routers/docs.py). ReDoc stays on
# 2.x: 3.x is an ES module that FastAPI's page cannot load, and it reports usage to Redocly's
# servers unless each page turns that off.
swagger=citybrain/static/vendor/swagger-ui
mkdir -p "$swagger"
cp node_modules/swagger-ui-dist/swagger-ui-bundle.js \
   node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt \
   node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/favicon-32x32.png \
   node_modules/swagger-ui-dist/LICENSE node_modules/swagger-ui-dist/NOTICE "$swagger/"
node -p "require('./node_modules/swagger-ui-dist/package.json').version" > "$swagger/VERSION"
redoc=citybrain/static/vendor/redoc
mkdir -p "$redoc"
cp node_modules/redoc/bundles/redoc.standalone.js \
   node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt node_modules/redoc/LICENSE "$redoc/"
# ReDoc draws Redocly's logo from their CDN under its menu: an empty src instead, which the
# browser does not fetch (the logo then hides itself). Stop if the bundle changed.
logo='"https://cdn.redoc.ly/redoc/logo-mini.svg"'
grep -qF "$logo" "$redoc/redoc.standalone.js" || { echo "redoc: the CDN logo moved" >&2; exit 1; }
sed -i "s#$logo#\"\"#" "$redoc/redoc.standalone.js"
node -p "require('./node_modules/redoc/package.json').version" > "$redoc/VERSION"

fonts="citybrain/static/fonts/DejaVu Sans Book"
work=$(mktemp -d)
node_modules/.bin/build-glyphs node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf "$work"
mkdir -p "$fonts"
for range in 0-255 256-511 8192-8447; do cp "$work/$range.pbf" "$fonts/"; done
cp node_modules/dejavu-fonts-ttf/LICENSE "$fonts/LICENSE"
rm -rf "$work"
echo "vendored maplibre-gl $(cat "$maplibre/VERSION"), swagger-ui $(cat "$swagger/VERSION"), redoc $(cat "$redoc/VERSION"), leaflet and $(ls "$fonts" | grep -c pbf) glyph ranges"
