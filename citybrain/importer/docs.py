"""The tables of docs/import.md's "Every layer's columns", written from the layer files: where a
row is, then each importable layer's key and columns (a test checks that the page holds
exactly this)."""

from __future__ import annotations

from citybrain.importer.mapping import targets
from citybrain.layers import LOCATION, Column, Layer, import_order


def _table(columns: tuple[Column, ...]) -> list[str]:
    rows = [
        "| column | type | | what | headers taken without `--map` |",
        "|---|---|---|---|---|",
    ]
    for c in columns:
        need = "required" if c.required else ""
        aliases = ", ".join(a for a in c.aliases if a != c.name)
        rows.append(f"| `{c.name}` | {c.kind} | {need} | {c.doc} | {aliases} |")
    return rows


def markdown(layers: dict[str, Layer]) -> str:
    """Every importable layer's columns as Markdown tables, parents before children."""
    out = ["### Where a row is (every layer)", "", *_table(LOCATION), ""]
    for layer in import_order(layers):
        own = tuple(c for c in targets(layer) if c not in LOCATION)
        title = layer.import_.title if layer.import_ else ""
        out += [f"### `{layer.id}`: {title}", "", f"Key: `{layer.key}`.", ""]
        out += [*_table(own), ""]
    return "\n".join(out)
