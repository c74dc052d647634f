"""Layer files: validated at start-up, errors name the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from citybrain.layers import LayerConfigError, check_against_database, load_layers

LAYERS = Path(__file__).resolve().parents[1] / "layers"


def _dir(tmp_path: Path, name: str, text: str) -> Path:
    """A fresh layers directory: the real towns layer and one more file."""
    directory = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    shutil.copy(LAYERS / "towns.yaml", directory / "towns.yaml")
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return directory


BASE = "id: {id}\ntitle: {{zh: 测, en: test}}\nsource: {{table: incidents}}\ngeometry: point\n"


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            "properties: [category, reporter_phone]\n",
            "field properties: .*personal data.*reporter_phone",
        ),
        ("minzoom: 30\n", "field minzoom"),
        ("minzoom: 12\nmaxzoom: 10\n", "minzoom 12 is above maxzoom 10"),
        ("colour: red\n", "field colour: Extra inputs"),
        ("style: [{paint: {}}]\n", "style\\[0\\] needs a MapLibre layer type"),
        ("style: [{type: circle, source: x}]\n", "source is set by citybrain"),
        ("labels: {style: [{type: symbol}]}\n", "only polygon layers have label points"),
        (
            "columns: {kind: {type: enum, choices: Colours}}\n",
            "field columns.kind.choices: .*'Colours' is no vocabulary.*TeamStatus",
        ),
        ("columns: {kind: {type: enum}}\n", "field columns.kind: .*an enum column needs choices"),
        (
            "columns: {phone: {personal: true}}\nproperties: [category, phone]\n",
            "field properties: .*personal data.*phone",
        ),
        ("columns: {name: {}}\nimport: {title: x}\n", "key: 'code' is not one of the columns"),
        ("columns: {code: {short: much_too_long}}\n", "columns.code.short: .*10-byte"),
        ("columns: {parent: {}}\n", "columns.parent: the layer has no parent"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, extra: str, message: str) -> None:
    directory = _dir(tmp_path, "bad", BASE.format(id="bad") + extra)
    with pytest.raises(LayerConfigError, match=f"bad.yaml: .*{message}"):
        load_layers(directory)


def test_unknown_table_and_id_mismatch(tmp_path: Path, conn: psycopg.Connection) -> None:
    # The tables are the database's: a layer file names one that must be a map table there.
    for table in ("passwords", "api_keys"):  # none; one without tile-version triggers
        text = BASE.format(id="bad").replace("incidents", table)
        layers = load_layers(_dir(tmp_path, "bad", text))
        with pytest.raises(LayerConfigError, match=f"bad.yaml: field source.table.*{table}"):
            check_against_database(layers, conn)
    with pytest.raises(LayerConfigError, match="other.yaml: field id"):
        load_layers(_dir(tmp_path, "other", BASE.format(id="bad2")))
    with pytest.raises(LayerConfigError, match="broken.yaml: not valid YAML"):
        load_layers(_dir(tmp_path, "broken", "id: [unclosed"))


def test_label_layers_are_checked(tmp_path: Path) -> None:
    polygons = BASE.replace("incidents", "villages").replace("point", "polygon")
    text = polygons.format(id="bad") + "labels: {style: [{paint: {}}]}\n"
    with pytest.raises(LayerConfigError, match="bad.yaml: .*labels.style\\[0\\] needs a MapLibre"):
        load_layers(_dir(tmp_path, "bad", text))
    with pytest.raises(LayerConfigError, match="bad.yaml: field labels.style: .*at least 1"):
        load_layers(_dir(tmp_path, "bad", polygons.format(id="bad") + "labels: {style: []}\n"))
    directory = _dir(tmp_path, "towns_labels", polygons.format(id="towns_labels"))
    with pytest.raises(LayerConfigError, match="towns.yaml: field labels: .*towns_labels.yaml"):
        load_layers(directory)


def test_columns_are_checked_against_the_database(tmp_path: Path, conn: psycopg.Connection) -> None:
    text = BASE.format(id="bad") + "properties: [category, colour]\n"
    layers = load_layers(_dir(tmp_path, "bad", text))
    with pytest.raises(LayerConfigError, match="bad.yaml: .*no column 'colour'"):
        check_against_database(layers, conn)
    text = BASE.format(id="bad") + 'source: {table: incidents, where: "nonsense = 1"}\n'
    layers = load_layers(_dir(tmp_path, "bad", text.replace("source: {table: incidents}\n", "")))
    with pytest.raises(LayerConfigError, match="bad.yaml: field source.where"):
        check_against_database(layers, conn)


def test_the_project_layers_load(conn: psycopg.Connection) -> None:
    layers = load_layers(LAYERS)
    check_against_database(layers, conn)
    assert list(layers)[0] == "roads" and list(layers)[-2:] == ["incidents", "alerts"]  # order
