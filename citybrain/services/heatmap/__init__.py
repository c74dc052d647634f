"""H3 heatmaps and Gi* hotspots of incidents, counted by the incident index
(``services.incident_index``), one concept a module:

- ``query``: what is asked (resolution, window, filters, area), validated once, and the cells
  it selects, counted from the index;
- ``population``: the county's cells and their residents;
- ``metrics``: the heatmap answer (``count``, ``per_1k``, ``change``);
- ``stats``: Getis-Ord Gi* hotspots;
- ``encode``: H3 ids as hex, an answer's cells as one JSON byte table, GeoJSON.

Their tiles are ``citybrain.tiles.heatmap``.

Import a name from the module that owns it: this package re-exports nothing.
"""
