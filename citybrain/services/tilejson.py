"""TileJSON 3.0 of the layers: one description for the API's tiles and for a tile archive's
(``citybrain tiles export``), so that both name the same vector layers and fields."""

from __future__ import annotations

from typing import Any

from citybrain.layers import Layer

COUNTY_CENTRE = (120.91, 30.87)


def vector_layers(layer: Layer) -> list[dict[str, Any]]:
    """TileJSON's ``vector_layers`` of one layer (and of its label points)."""
    fields = {p: "property" for p in layer.properties}
    if layer.cluster:
        fields["count"] = f"points per cluster below zoom {layer.cluster.below_zoom}"
    if layer.window:
        fields["h3"] = "a cluster's H3 cell (hex): clusters are cells, drawn at the centre"
    out = [
        {
            "id": layer.id,
            "description": f"{layer.title.zh} {layer.title.en}",
            "minzoom": layer.minzoom,
            "maxzoom": layer.maxzoom,
            "fields": fields,
        }
    ]
    if layer.labels:
        out.append(
            {
                **out[0],
                "id": layer.labels_id,
                "description": f"{layer.title.en}: one label point inside each polygon",
                "fields": {p: "property" for p in layer.properties},
            }
        )
    return out


def tilejson(name: str, tiles: str, layers: list[Layer], bounds: list[float]) -> dict[str, Any]:
    return {
        "tilejson": "3.0.0",
        "name": name,
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": min(layer.minzoom for layer in layers),
        "maxzoom": max(layer.maxzoom for layer in layers),
        "bounds": bounds,
        "center": [*COUNTY_CENTRE, 11],
        "vector_layers": [v for layer in layers for v in vector_layers(layer)],
    }
