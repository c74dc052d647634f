"""Analyses for planners: the logic behind ``notebooks/``, tested on small hand-built data.

Functions take GeoDataFrames (WGS84, as ``geopandas.read_postgis`` returns them from the
``citybrain`` schema) and return DataFrames; ``load`` reads the tables; ``maps`` draws folium
maps that work offline.
"""
