"""folium maps that work offline: Leaflet is embedded in the page (from the copy citybrain
vendors), and no basemap tiles are fetched — the layers are the map."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

import folium
import geopandas as gpd

LEAFLET = Path(__file__).resolve().parents[1] / "static" / "vendor" / "leaflet"
JIASHAN = (30.87, 120.91)
RAMP = ("#1a237e", "#3949ab", "#8e24aa", "#f57f17", "#d50000")


@cache
def _data_uri(name: str, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode((LEAFLET / name).read_bytes()).decode()


def offline_map(location: tuple[float, float] = JIASHAN, zoom: int = 11) -> folium.Map:
    """A folium map with Leaflet inlined, no tiles and no other script or stylesheet."""
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, control_scale=True)
    m.default_js = [("leaflet", _data_uri("leaflet.js", "text/javascript"))]
    m.default_css = [("leaflet_css", _data_uri("leaflet.css", "text/css"))]
    m.get_root().header.add_child(
        folium.Element("<style>.leaflet-container{background:#0b1a2b}</style>")
    )
    return m


def add_layer(
    m: folium.Map,
    frame: gpd.GeoDataFrame,
    name: str,
    color: str = "#4fc3f7",
    fields: list[str] | None = None,
    fill: str | None = None,
    weight: float = 1.0,
    show: bool = True,
    simplify: float = 0.0,
) -> folium.GeoJson:
    """A GeoDataFrame as a toggleable layer, with a tooltip of ``fields``."""
    frame = frame.to_crs(4326).reset_index()
    if simplify:
        frame["geometry"] = frame.geometry.simplify(simplify, preserve_topology=True)
    keep = [c for c in (fields or []) if c in frame.columns]
    frame = frame[[*keep, frame.geometry.name]]
    layer = folium.GeoJson(
        frame.__geo_interface__,
        name=name,
        show=show,
        style_function=lambda _: {
            "color": color,
            "weight": weight,
            "fillColor": fill or color,
            "fillOpacity": 0.35 if fill else 0.0,
        },
        marker=folium.CircleMarker(radius=3, color=color, fill=True, fill_opacity=0.8),
        tooltip=folium.GeoJsonTooltip(fields=keep) if keep else None,
    )
    layer.add_to(m)
    return layer


def add_choropleth(
    m: folium.Map,
    frame: gpd.GeoDataFrame,
    value: str,
    name: str,
    fields: list[str] | None = None,
    colors: tuple[str, ...] = RAMP,
    show: bool = True,
) -> folium.GeoJson:
    """Polygons filled by ``value`` in quantile classes of ``colors`` (low to high)."""
    frame = frame.to_crs(4326).reset_index()
    classes = len(colors)
    ranks = frame[value].rank(method="first", pct=True).fillna(0)
    frame["_class"] = (ranks * classes).clip(upper=classes - 1e-9).astype(int)
    keep = [c for c in [value, *(fields or [])] if c in frame.columns]
    frame = frame[[*keep, "_class", frame.geometry.name]]
    layer = folium.GeoJson(
        frame.__geo_interface__,
        name=name,
        show=show,
        style_function=lambda f: {
            "color": colors[f["properties"]["_class"]],
            "weight": 0.5,
            "fillColor": colors[f["properties"]["_class"]],
            "fillOpacity": 0.6,
        },
        tooltip=folium.GeoJsonTooltip(fields=keep),
    )
    layer.add_to(m)
    return layer
