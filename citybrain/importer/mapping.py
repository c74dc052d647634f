"""Which source column feeds which citybrain column, and how source values translate.

Given on the command line (``--map code=行政区划代``, repeatable) or in a YAML file
(``--mapping FILE``)::

    fields:                       # citybrain column: source column
      external_id: 工单编号
      category: 诉求类型
    values:                       # per column: source value -> citybrain value
      category: {城乡建设: 城市管理, 劳动社保: 民生诉求}
    defaults:                     # per column: the value when the source has none
      source: hotline_12345

``--map`` wins over the file; a column that neither names is found among the usual headers
of county offices (the ``aliases`` of the layer file's columns). Naming a column the source
does not have, or a target the layer does not have, refuses the import before anything is
read further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from citybrain.errors import InvalidInput
from citybrain.layers import ADDRESS, LOCATION, Column, Layer


@dataclass
class Mapping:
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)


def targets(layer: Layer) -> tuple[Column, ...]:
    """Every column a source may feed: the layer's, its location, and its address where an
    address may place a row (incidents)."""
    extra = (ADDRESS,) if layer.import_ and layer.import_.address else ()
    return (*layer.columns.values(), *LOCATION, *extra)


def load(layer: Layer, mapping_file: Path | None, maps: list[str]) -> Mapping:
    mapping = Mapping()
    if mapping_file is not None:
        mapping = _from_yaml(mapping_file)
    for item in maps:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InvalidInput(f"--map {item!r}: write TARGET=SOURCE_FIELD, e.g. code=行政区划代")
        mapping.fields[target.strip()] = source.strip()
    known = {c.name for c in targets(layer)}
    for section in (mapping.fields, mapping.values, mapping.defaults):
        unknown = sorted(set(section) - known)
        if unknown:
            raise InvalidInput(
                f"{layer.id} has no column {', '.join(unknown)}: "
                f"its columns are {', '.join(sorted(known))}"
            )
    return mapping


def _from_yaml(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"mapping file {path}: {exc}") from exc
    if not isinstance(data, dict) or set(data) - {"fields", "values", "defaults"}:
        raise InvalidInput(f"mapping file {path}: expected the sections fields, values, defaults")

    def strings(obj, where: str) -> dict[str, str]:
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise InvalidInput(f"mapping file {path}: {where} must be a mapping")
        scalar = (str, int, float, bool)
        wrong = [
            k for k, v in obj.items() if not isinstance(k, scalar) or not isinstance(v, scalar)
        ]
        if wrong:
            raise InvalidInput(f"mapping file {path}: {where}.{wrong[0]} must be a single value")
        return {str(k): str(v) for k, v in obj.items()}

    values = data.get("values") or {}
    if not isinstance(values, dict):
        raise InvalidInput(f"mapping file {path}: values must map columns to value tables")
    return Mapping(
        fields=strings(data.get("fields"), "fields"),
        values={str(k): strings(v, f"values.{k}") for k, v in values.items()},
        defaults=strings(data.get("defaults"), "defaults"),
    )


# A header of at least this many bytes that begins an alias is taken as that alias cut short
# by the Shapefile's 10-byte field names (3 Chinese characters in UTF-8, 5 in GBK).
CUT_BYTES = 9


def _norm(name: str) -> str:
    return "".join(str(name).split()).lower()


def resolve(layer: Layer, columns: list[str], mapping: Mapping) -> dict[str, str]:
    """citybrain column -> source column, for every target the source feeds."""
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    chosen: dict[str, str] = {}
    for target, source in mapping.fields.items():
        if source not in columns and _norm(source) not in by_norm:
            raise InvalidInput(
                f"--map {target}={source}: the source has no column {source!r}; "
                f"it has {', '.join(columns)}"
            )
        chosen[target] = source if source in columns else by_norm[_norm(source)]
    taken: set[str] = set()  # a column --map names may feed an alias too (code=名称, name)
    for exact in (True, False):
        for column in targets(layer):
            if column.name in chosen:
                continue
            found = _find(column, by_norm, taken, exact)
            if found is not None:
                chosen[column.name] = found
                taken.add(found)
    return chosen


def _find(column: Column, by_norm: dict[str, str], taken: set[str], exact: bool) -> str | None:
    """The source column named by one of ``column``'s aliases; not ``exact``: a Shapefile
    header the 10-byte limit cut short (乡镇名 for 乡镇名称)."""
    for alias in (column.name, *column.aliases, column.shp_name):
        norm = _norm(alias)
        if exact:
            found = by_norm.get(norm)
        else:
            found = next(
                (
                    source
                    for key, source in by_norm.items()
                    if len(key.encode()) >= CUT_BYTES and norm.startswith(key) and norm != key
                ),
                None,
            )
        if found is not None and found not in taken:
            return found
    return None
