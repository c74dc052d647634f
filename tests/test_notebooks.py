"""The planners' notebooks run top to bottom against the seeded test database, print no
warning (nothing on stderr, no ``...Warning:`` line in any output), each shows at least one
map, and the maps fetch nothing from the internet."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # minutes of servers, clusters, browsers or round trips

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
URL = re.compile(r"""https?://[^\s"'<>)]+""")
HARMLESS = ("http://www.w3.org/",)  # XML namespaces, never fetched
# How Python prints a warning ("<file>:<line>: UserWarning: ..."), whatever the category.
WARNING = re.compile(r"\b\w*Warning: ")


def printed_warnings(nb: nbformat.NotebookNode) -> list[str]:
    """What the executed notebook printed on stderr or as a warning, cell by cell."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") + out.get("data", {}).get("text/plain", "")
            if out.get("name") == "stderr" or WARNING.search(text):
                found.append(f"{cell.source[:80]!r}: {text[:500]}")
    return found


def test_a_warning_is_caught() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("1 + 1"),
            nbformat.v4.new_code_cell("import warnings\nwarnings.warn('a centroid in degrees')"),
            nbformat.v4.new_code_cell("import sys\nprint('note', file=sys.stderr)"),
        ]
    )
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    found = printed_warnings(nb)
    assert len(found) == 2
    assert "UserWarning: a centroid in degrees" in found[0] and "note" in found[1]


def test_there_are_six() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_maps_offline(path: Path, seeded: str, monkeypatch) -> None:
    monkeypatch.setenv("CITYBRAIN_DATABASE_URL", seeded)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    headings = [
        c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("#")
    ]
    assert headings and all(re.search(r"[\u4e00-\u9fff]", h) and " · " in h for h in headings)
    maps = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error"
            page = out.get("data", {}).get("text/html", "")
            if "leaflet" in page.lower() and "L.map" in html.unescape(page):
                maps.append(html.unescape(page))
    assert printed_warnings(nb) == []
    assert maps, "no folium map"
    for page in maps:
        fetched = [u for u in URL.findall(page) if not u.startswith(HARMLESS)]
        assert fetched == [], fetched[:5]
