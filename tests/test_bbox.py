"""One bbox rule (services/bbox.py) for OGC items and heatmaps: the same text is accepted or
refused by both, six numbers (with heights) select what four do, and each selects what an
independent computation on the same rows finds."""

from __future__ import annotations

import h3
import psycopg
import pytest

START, END = "2026-09-01T00:00:00+08:00", "2026-11-01T00:00:00+08:00"
BOX = (120.80, 30.75, 120.95, 30.90)
CASES = {
    "120.8,30.75,120.95,30.9": 200,
    "120.8,30.75,-10,120.95,30.9,250.5": 200,  # heights: ignored
    "120.9,30.8,120.9,30.8": 200,  # a point: a box that touches what is there
    "120.95,30.75,120.8,30.9": 400,  # upper corner first
    "120.8,30.75,120.95": 400,
    "120.8,30.75,120.95,30.9,1": 400,
    "120.8,nan,120.95,30.9": 400,
    "-inf,30.75,120.95,30.9": 400,
    "120.8,30.75,120.95,91": 400,
    "a,b,c,d": 400,
}


def _items(client, bbox: str):
    return client.get("/collections/incidents/items", params={"bbox": bbox, "limit": 1})


def _heatmap(client, bbox: str):
    params = {"res": 8, "start": START, "end": END, "bbox": bbox}
    return client.get("/heatmap/incidents", params=params)


@pytest.mark.parametrize("bbox", CASES)
def test_ogc_and_heatmap_keep_one_rule(client, bbox: str) -> None:
    items, heatmap = _items(client, bbox), _heatmap(client, bbox)
    assert (items.status_code, heatmap.status_code) == (CASES[bbox], CASES[bbox])
    if CASES[bbox] == 400:
        assert items.json()["detail"] == heatmap.json()["detail"]  # the same words, too


def test_six_numbers_select_what_four_do(client, conn: psycopg.Connection) -> None:
    four = ",".join(map(str, BOX))
    six = f"{BOX[0]},{BOX[1]},0,{BOX[2]},{BOX[3]},100"
    matched = conn.execute(
        "SELECT count(*) FROM citybrain.incidents "
        "WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))",
        BOX,
    ).fetchone()[0]
    assert _items(client, four).json()["numberMatched"] == matched > 0
    assert _items(client, six).json()["numberMatched"] == matched
    # the heatmap keeps the cells whose centre is in the box: by h3-py, on the same rows
    rows = conn.execute(
        "SELECT h3_8 FROM citybrain.incidents WHERE reported_at >= %s AND reported_at < %s",
        [START, END],
    ).fetchall()
    inside = 0
    for (cell,) in rows:
        lat, lon = h3.cell_to_latlng(h3.int_to_str(cell))
        inside += BOX[0] <= lon <= BOX[2] and BOX[1] <= lat <= BOX[3]
    assert _heatmap(client, four).json()["totals"]["incidents"] == inside > 0
    assert _heatmap(client, six).json()["totals"]["incidents"] == inside
