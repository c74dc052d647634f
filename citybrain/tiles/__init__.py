"""Vector tiles, one concept a module:

- ``xyz``: Web Mercator XYZ tile arithmetic shared by every tile path;
- ``service``: the declarative layers' tiles (``ST_AsMVT``), the incident layer's H3 clusters
  from the incident index, and the per-process tile cache that is never stale;
- ``heatmap``: heatmap hexagons as tiles, and the H3 resolution fitted to a zoom;
- ``archive``: PMTiles archives of the static layers (``citybrain tiles export``), and a style
  drawing them from one;
- ``style``: the map's MapLibre style, drawn from these tiles alone.

The router is ``api.routers.tiles``. Import a name from the module that owns it: this package
re-exports nothing.
"""
