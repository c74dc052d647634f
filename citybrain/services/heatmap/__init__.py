"""H3 heatmaps and Gi* hotspots of incidents, one concept a module:

- ``query``: what is asked (resolution, window, filters, area), validated once, and the cells
  it selects, counted from the index;
- ``index``: every incident as heatmaps read it, in memory, never stale;
- ``population``: the county's cells and their residents;
- ``metrics``: the heatmap answer (``count``, ``per_1k``, ``change``);
- ``stats``: Getis-Ord Gi* hotspots;
- ``tiles``: hexagons as vector tiles, and the resolution fitted to a zoom;
- ``encode``: H3 ids as hex, an answer's cells as one JSON byte table, GeoJSON.

Import a name from the module that owns it: this package re-exports nothing.
"""
