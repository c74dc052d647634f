"""Open311 GeoReport v2's two formats: every answer under ``/open311/v2/`` in JSON or XML by
the path's extension (``requests.json``, ``requests.xml``), errors included, in the shapes the
specification gives (``[{"code": 400, "description": ...}]``; ``<errors><error>``)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from citybrain.api.responses import errors
from citybrain.errors import NotFound

PREFIX = "/open311/v2/"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}


class Open311Error(BaseModel):
    """One error, as GeoReport v2 gives it (a list of them is the body)."""

    code: int
    description: str


def _both(answer: dict) -> dict:
    """An OpenAPI answer in JSON (its model, if any) and in XML."""
    model = answer.pop("model", None)
    json_schema = {"schema": {"type": "array", "items": Open311Error.model_json_schema()}}
    return {
        **answer,
        "content": {
            "application/json": json_schema if model else {},
            "text/xml": {"schema": {"type": "string"}},
        },
    }


# Every route's answers in OpenAPI: JSON or XML, errors in GeoReport v2's shape.
RESPONSES = {
    200: _both({"description": "the answer, in the format of the path's extension"}),
    **{s: _both(a) for s, a in errors(400, 401, 403, 404, 413, 422, 429, 503).items()},
}


def checked(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(f"no format {fmt!r}: .json or .xml")
    return fmt


# Characters XML 1.0 cannot hold (C0 controls but tab, newline, carriage return): dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _element(tag: str, fields: dict[str, Any]) -> ET.Element:
    node = ET.Element(tag)
    for key, value in fields.items():
        child = ET.SubElement(node, key)
        if isinstance(value, list):
            name = key[:-1] if key.endswith("s") else "item"
            for item in value:
                if isinstance(item, dict):
                    child.append(_element(name, item))
                else:
                    ET.SubElement(child, name).text = _text(item)
        else:
            child.text = _text(value)
    return node


def render(fmt: str, payload: Any, root: str, item: str | None = None, status: int = 200):
    """``payload`` (a list of dicts, or one dict) as JSON, or as XML under ``root`` (each list
    item an ``item`` element)."""
    if fmt == "json":
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    elif isinstance(payload, list):
        top = ET.Element(root)
        top.extend(_element(item or "item", row) for row in payload)
        body = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    else:
        body = ET.tostring(_element(root, payload), encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type=FORMATS[fmt])


def error(path: str, status: int, description: Any, headers: dict[str, str]) -> Response:
    """An error in the format the path asks for (JSON unless it ends in ``.xml``)."""
    if not isinstance(description, str):
        description = json.dumps(description, ensure_ascii=False, default=str)
    fmt = "xml" if path.endswith(".xml") else "json"
    answer = render(fmt, [{"code": status, "description": description}], "errors", "error", status)
    answer.headers.update(headers)
    return answer
