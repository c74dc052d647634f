"""folium maps that work offline: Leaflet is embedded in the page (from the copy citybrain
vendors), and no basemap tiles are fetched — the layers are the map.

Choropleths are classed with mapclassify (quantiles, Fisher-Jenks, natural breaks) and carry a
legend that states each class's bounds, so a map is read rather than decoded. The villages and
roads are drawn beneath as context (``add_context``): on a county map the arterial roads, on a
zoomed one every road near what it shows (all the county's roads weigh a page down by 7 MB).
Legends are plain HTML in the page, moved into a Leaflet control, so they stack in a corner and
need nothing from outside the page.
"""

from __future__ import annotations

import base64
import html
import warnings
from functools import cache
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template

from citybrain.crs import LOCAL

LEAFLET = Path(__file__).resolve().parents[1] / "static" / "vendor" / "leaflet"
JIASHAN = (30.87, 120.91)
RAMP = ("#1a237e", "#3949ab", "#8e24aa", "#f57f17", "#d50000")
NO_DATA = "#607d8b"
SCHEMES = ("quantiles", "fisher_jenks", "natural_breaks")


@cache
def _data_uri(name: str, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode((LEAFLET / name).read_bytes()).decode()


def offline_map(location: tuple[float, float] = JIASHAN, zoom: int = 11) -> folium.Map:
    """A folium map with Leaflet inlined, no tiles and no other script or stylesheet."""
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, control_scale=True)
    m.default_js = [("leaflet", _data_uri("leaflet.js", "text/javascript"))]
    m.default_css = [("leaflet_css", _data_uri("leaflet.css", "text/css"))]
    # "div." outranks leaflet.css's own grey, which the page links after this style.
    m.get_root().header.add_child(
        folium.Element("<style>div.leaflet-container{background:#0b1a2b}</style>")
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
    *,
    scheme: str = "quantiles",
    k: int | None = None,
    legend: str | bool = True,
    fmt: str | None = None,
    bins: list[float] | None = None,
) -> folium.GeoJson:
    """Polygons filled by ``value`` in ``k`` classes (default: one per colour) of ``scheme``
    (``quantiles``, ``fisher_jenks`` or ``natural_breaks``; see ``classify``), coloured low to
    high along ``colors``; missing values in grey. ``legend``: its title (True: ``name``, False:
    none), listing each class's bounds written with ``fmt`` (e.g. ``"{:,.0f}"``). ``bins``:
    upper bounds of your own instead of a scheme (the same classes on several maps; a last
    class up to the maximum is added when values exceed them)."""
    frame = frame.to_crs(4326).reset_index()
    classes = classify(frame[value].to_numpy(float), scheme, k or len(colors), bins=bins)
    # Bounds of your own keep their colours from map to map, whether or not values pass them.
    palette = ramp(colors, len(bins) + 1 if bins is not None else len(classes.bins))
    frame["_class"] = classes.yb
    keep = [c for c in [value, *(fields or [])] if c in frame.columns]
    frame = frame[[*keep, "_class", frame.geometry.name]]

    def style(feature: dict) -> dict:
        c = feature["properties"]["_class"]
        fill = palette[c] if c >= 0 else NO_DATA
        return {"color": fill, "weight": 0.5, "fillColor": fill, "fillOpacity": 0.6}

    layer = folium.GeoJson(
        frame.__geo_interface__,
        name=name,
        show=show,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=keep),
    )
    layer.add_to(m)
    if legend:
        title = name if legend is True else str(legend)
        labels = classes.labels(fmt)
        Legend(title, labels, palette[: len(labels)], classes.missing, layer).add_to(m)
    return layer


class Classes:
    """Classes of values: ``yb`` the class of each value (-1: missing), ``bins`` the upper
    bound of each class, ``low`` the smallest value, ``counts`` values per class, ``missing``
    how many had no value."""

    def __init__(self, yb: np.ndarray, bins: np.ndarray, low: float, missing: int):
        self.yb, self.bins, self.low, self.missing = yb, bins, low, missing
        self.counts = np.bincount(yb[yb >= 0], minlength=len(bins))

    def labels(self, fmt: str | None = None) -> list[str]:
        """'low – high (count)' per class, the bounds written with ``fmt``."""
        fmt = fmt or _format_for(np.r_[self.low, self.bins])
        lows = [self.low, *self.bins[:-1]]
        return [
            # Bounds of your own may start below every value: the first class is then "≤ hi".
            f"{fmt.format(lo)} – {fmt.format(hi)} ({n:,})"
            if lo <= hi
            else f"≤ {fmt.format(hi)} ({n:,})"
            for lo, hi, n in zip(lows, self.bins, self.counts, strict=True)
        ]


def classify(
    values: np.ndarray,
    scheme: str = "quantiles",
    k: int = 5,
    seed: int = 0,
    bins: list[float] | None = None,
) -> Classes:
    """mapclassify's classes of the finite ``values`` (NaN: missing): ``quantiles`` (equal
    counts), ``fisher_jenks`` (optimal breaks, deterministic) or ``natural_breaks`` (k-means in
    one dimension, seeded). Fewer classes than ``k`` when the values do not have that many
    distinct levels (mapclassify then merges classes; its notice is not repeated). With
    ``bins``, mapclassify's ``UserDefined`` classes of those upper bounds."""
    import mapclassify

    kinds = {
        "quantiles": mapclassify.Quantiles,
        "fisher_jenks": mapclassify.FisherJenks,
        "natural_breaks": mapclassify.NaturalBreaks,
    }
    if scheme not in kinds:
        raise ValueError(f"unknown scheme {scheme!r}: one of {', '.join(SCHEMES)}")
    values = np.asarray(values, float)
    ok = np.isfinite(values)
    yb = np.full(len(values), -1)
    if not ok.any():
        return Classes(yb, np.array([]), np.nan, len(values))
    if bins is not None:
        found = mapclassify.UserDefined(values[ok], list(bins))
        yb[ok] = found.yb
        return Classes(yb, np.asarray(found.bins, float), float(values[ok].min()), int((~ok).sum()))
    k = max(1, min(k, len(np.unique(values[ok]))))
    state = np.random.get_state()
    try:
        np.random.seed(seed)  # natural breaks' k-means draws from NumPy's global generator
        with warnings.catch_warnings():
            # Ties that leave fewer than k distinct bounds: the classes are merged, as said.
            warnings.filterwarnings("ignore", "Not enough unique values", UserWarning)
            # Fisher-Jenks's exact pure-Python path is used without numba (only slower).
            warnings.filterwarnings("ignore", "Numba not installed", UserWarning)
            found = kinds[scheme](values[ok], k=k)
    finally:
        np.random.set_state(state)
    yb[ok] = found.yb
    return Classes(yb, np.asarray(found.bins, float), float(values[ok].min()), int((~ok).sum()))


def ramp(colors: tuple[str, ...], k: int) -> list[str]:
    """``k`` colours evenly along ``colors`` (interpolated in RGB)."""
    if k <= 0:
        return []
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], float)
    at = np.linspace(0, len(colors) - 1, k)
    out = np.column_stack([np.interp(at, np.arange(len(colors)), rgb[:, j]) for j in range(3)])
    return ["#{:02x}{:02x}{:02x}".format(*np.rint(row).astype(int)) for row in out]


def _format_for(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if np.all(finite == np.round(finite)):
        return "{:,.0f}"
    return "{:,.2f}" if np.abs(finite).max() < 10 else "{:,.1f}"


class Legend(MacroElement):
    """A legend box (title, a swatch and a label per class, 无数据 for missing values) in the
    map's bottom-left corner: HTML in the page, moved into a Leaflet control when the map
    loads, and shown while its ``layer`` is (toggled from the layer control)."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var box = document.getElementById({{ this.get_name()|tojson }});
            var control = L.control({position: "bottomleft"});
            control.onAdd = function () { return box; };
            control.addTo(map);
            {% if this.layer %}
            var layer = {{ this.layer.get_name() }};
            var shown = function (on) { box.style.display = on ? "block" : "none"; };
            shown(map.hasLayer(layer));
            map.on("overlayadd", function (e) { if (e.layer === layer) shown(true); });
            map.on("overlayremove", function (e) { if (e.layer === layer) shown(false); });
            {% else %}
            box.style.display = "block";
            {% endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        title: str,
        labels: list[str],
        colors: list[str],
        missing: int = 0,
        layer: folium.Layer | None = None,
    ):
        super().__init__()
        self._name = "Legend"
        self.layer = layer  # shown while this layer is
        rows = [
            f'<div><i style="background:{c}"></i>{html.escape(label)}</div>'
            for c, label in zip(colors, labels, strict=True)
        ]
        if missing:
            rows.append(
                f'<div><i style="background:{NO_DATA}"></i>无数据 no data ({missing:,})</div>'
            )
        self.body = (
            f'<div id="{self.get_name()}" class="citybrain-legend" style="display:none;'
            "background:rgba(11,26,43,.85);color:#eceff1;padding:6px 8px;font:12px sans-serif;"
            'border-radius:4px;line-height:18px">'
            f"<b>{html.escape(title)}</b>{''.join(rows)}</div>"
            "<style>.citybrain-legend i{display:inline-block;width:14px;height:12px;"
            "margin-right:6px;vertical-align:middle;opacity:.8}</style>"
        )


def add_context(
    m: folium.Map,
    villages: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    show: bool = True,
    *,
    near: gpd.GeoDataFrame | gpd.GeoSeries | tuple[float, float, float, float] | None = None,
    within_m: float = 0.0,
) -> None:
    """What a reader finds their way by: village and community outlines (with their code, name
    and kind) and roads, as thin grey lines. Call it before the data layers, which then draw
    on top. ``near`` (geometries, or a ``(west, south, east, north)`` box in degrees) keeps
    only the roads within ``within_m`` metres of it: a zoomed map need not carry the county's
    roads, and the roads around proposed sites show where they stand. Villages are few and
    drawn whole."""
    if villages is not None:
        fields = [c for c in ("code", "name", "kind") if c in villages.columns]
        add_layer(
            m,
            villages,
            "村社区 villages",
            "#90a4ae",
            fields,
            weight=0.8,
            show=show,
            simplify=0.0001,
        )
    if roads is not None:
        if near is not None:
            roads = roads_near(roads, near, within_m)
        fields = [c for c in ("class",) if c in roads.columns]
        add_layer(m, roads, "道路 roads", "#cfd8dc", fields, weight=0.8, show=show)


def roads_near(
    roads: gpd.GeoDataFrame,
    near: gpd.GeoDataFrame | gpd.GeoSeries | tuple[float, float, float, float],
    within_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """The ``roads`` within ``within_m`` metres of ``near`` (geometries, or a ``(west, south,
    east, north)`` box in degrees; 0: those that touch it), measured in citybrain's local
    metres (``crs.LOCAL``, under 0.3 % off across the county)."""
    if within_m < 0:
        raise ValueError(f"a distance must not be negative, not {within_m} m")
    if isinstance(near, tuple):
        near = gpd.GeoSeries([shapely.box(*near)], crs=4326)
    targets = LOCAL.to_metres(near.to_crs(4326).geometry.values)
    lines = LOCAL.to_metres(roads.to_crs(4326).geometry.values)
    hit, _ = shapely.STRtree(targets).query(lines, predicate="dwithin", distance=within_m)
    return roads.iloc[np.unique(hit)]
