"""Analyses for planners: the logic behind ``notebooks/``, tested on small hand-built data.

Functions take GeoDataFrames (WGS84, as ``geopandas.read_postgis`` returns them from the
``citybrain`` schema) and return DataFrames; ``load`` reads the tables; ``maps`` draws folium
maps that work offline.

Their libraries (folium, PuLP, spopt, access, mapclassify) are the ``planning`` extra, which the
server does not install: importing this package without them says what to install.
"""

from importlib.util import find_spec

PLANNING = ("folium", "pulp", "spopt", "access", "mapclassify")
_missing = [name for name in PLANNING if find_spec(name) is None]
if _missing:
    raise ImportError(
        f"citybrain.analysis needs {', '.join(_missing)}: pip install 'citybrain[planning]' "
        "(or -e '.[planning]' in a checkout)"
    )
