"""The tree stays readable (issue 30): no module of the package over 600 lines and no function
over 80, frozen migrations aside; each package says what it owns; nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "citybrain"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.relative_to(PACKAGE).parts
    ]


def test_no_module_over_600_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_over_80_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.name}"] = lines
    assert long == {}


def test_every_package_says_what_it_owns() -> None:
    silent = [
        str(init.parent.relative_to(PACKAGE))
        for init in PACKAGE.rglob("__init__.py")
        if "migrations" not in init.parts and ast.get_docstring(ast.parse(init.read_text())) is None
    ]
    assert silent == []


# The layers of the tree, lowest first (docs/architecture.md): a module may import its own
# layer and the ones below, never one above.
LAYERS = [
    {"settings", "errors", "domain", "clock", "crs", "yamlfiles", "tiles.xyz"},
    {"db", "sql", "metrics"},
    {"layers", "ingest", "synth", "importer", "exporter", "validate", "people"},
    {"services", "tiles", "alerts", "analysis"},
    {"api"},
    {"cli"},
]


def _layer(name: str) -> int | None:
    """The layer of a module named relative to the package (``tiles.xyz``: XYZ arithmetic is
    vocabulary, the rest of ``tiles`` a service)."""
    parts = name.split(".")
    for depth in (2, 1):
        for i, names in enumerate(LAYERS):
            if ".".join(parts[:depth]) in names:
                return i
    return None


def test_nothing_imports_upward() -> None:
    upward = []
    for path in _modules():
        mine = _layer(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        if mine is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "citybrain" or len(parts) < 2:
                    continue
                theirs = _layer(".".join(parts[1:]))
                if theirs is not None and theirs > mine:
                    upward.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert upward == []
