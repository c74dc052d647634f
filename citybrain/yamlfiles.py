"""Declarative files (``layers/*.yaml``, ``alerts/*.yaml``): one pydantic model per file, read
and validated with the file and the field named in every error."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from citybrain.errors import CitybrainError

M = TypeVar("M", bound=BaseModel)


class Title(BaseModel):
    """A name in Chinese and English (a layer's, a detector's)."""

    model_config = ConfigDict(extra="forbid")
    zh: str
    en: str


def _where(error: dict) -> str:
    return ".".join(str(p) for p in error["loc"]) or "(file)"


def read_dir(
    directory: Path, model: type[M], error: type[CitybrainError], setting: str
) -> dict[str, M]:
    """Every ``*.yaml`` in ``directory`` as a ``model`` whose ``id`` is the file's name."""
    if not directory.is_dir():
        raise error(f"directory {directory} does not exist (set {setting})")
    found: dict[str, M] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise error(f"{path.name}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise error(f"{path.name}: expected a mapping of fields")
        try:
            item = model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"field {_where(e)}: {e['msg']}" for e in exc.errors())
            raise error(f"{path.name}: {problems}") from exc
        if item.id != path.stem:  # type: ignore[attr-defined]
            raise error(f"{path.name}: field id: {item.id!r} must match the file name")  # type: ignore[attr-defined]
        found[path.stem] = item
    return found
