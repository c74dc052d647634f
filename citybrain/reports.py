"""The assessment (考核) as files: XLSX (one sheet per level, Chinese headers; openpyxl) and PDF
(the figures' tables, a chart of the towns' on-time and satisfaction shares, and a map of the
towns shaded by their on-time share; reportlab, whose CID font STSong-Light needs no font file).
The figures are ``services.assessment``'s: the same as ``GET /reports/assessment``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)

from citybrain.domain import COUNTY_NAME
from citybrain.services.assessment import FIGURES, HEADERS, LEVEL_NAMES

CJK = "STSong-Light"  # Adobe's Chinese CID font: every PDF reader has it, nothing to embed
LATIN = "Helvetica"  # figures: plain, searchable digits
COLUMNS = (
    "code",
    "name",
    *FIGURES[:5],
    "dispatched_on_time_pct",
    FIGURES[5],
    FIGURES[6],
    "resolved_on_time_pct",
    *FIGURES[7:],
    "satisfaction_pct",
)


def period_text(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d} 至 {(end - timedelta(days=1)):%Y-%m-%d}"


def frame(report: dict[str, Any]) -> pd.DataFrame:
    """A level's units as a table with the Chinese headers, and the total last."""
    rows = [*report["units"], {"code": "", "name": "合计", **report["total"]}]
    return pd.DataFrame(rows, columns=list(COLUMNS)).rename(columns=HEADERS)


def write_xlsx(path: Path, reports: dict[str, dict[str, Any]]) -> None:
    """One sheet per level (乡镇（街道）, 村（社区）, 网格, 网格团队, 部门), headers in Chinese."""
    with pd.ExcelWriter(path, engine="openpyxl") as out:
        for level, report in reports.items():
            sheet = LEVEL_NAMES[level]
            head = pd.DataFrame(
                [[f"{COUNTY_NAME}{sheet}考核", period_text(report["start"], report["end"])]]
            )
            head.to_excel(out, sheet_name=sheet, index=False, header=False)
            frame(report).to_excel(out, sheet_name=sheet, index=False, startrow=2)
            out.sheets[sheet].freeze_panes = "C4"


def _styles() -> tuple[ParagraphStyle, ParagraphStyle]:
    if CJK not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    title = ParagraphStyle("title", fontName=CJK, fontSize=16, leading=22)
    body = ParagraphStyle("body", fontName=CJK, fontSize=9, leading=13)
    return title, body


def _table(report: dict[str, Any]) -> LongTable:
    table = frame(report)
    header = [
        Paragraph(h, ParagraphStyle("h", fontName=CJK, fontSize=6.5, leading=8))
        for h in table.columns
    ]
    body = [
        ["" if pd.isna(v) else (f"{v:g}" if isinstance(v, float) else str(v)) for v in row]
        for row in table.itertuples(index=False)
    ]
    widths = [24 * mm, 36 * mm] + [(277 - 60) * mm / (len(table.columns) - 2)] * (
        len(table.columns) - 2
    )
    out = LongTable([header, *body], colWidths=widths, repeatRows=1)
    out.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 1), (-1, -1), LATIN),
                ("FONTNAME", (1, 1), (1, -1), CJK),  # names
                ("FONTSIZE", (0, 1), (-1, -1), 6.5),
                ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
                ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f4f4f4")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return out


def _chart(towns: dict[str, Any]) -> Drawing:
    """The towns' on-time resolution and satisfaction shares, as bars."""
    units = towns["units"]
    names = [u["name"] for u in units]
    drawing = Drawing(260 * mm, 120 * mm)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40 * mm, 10 * mm, 200 * mm, 100 * mm
    chart.data = [
        [u["resolved_on_time_pct"] or 0 for u in units],
        [u["satisfaction_pct"] or 0 for u in units],
    ]
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = 0, 100
    chart.categoryAxis.categoryNames = names
    chart.categoryAxis.labels.fontName = CJK
    chart.bars[0].fillColor = colors.HexColor("#3b7dd8")
    chart.bars[1].fillColor = colors.HexColor("#f0a030")
    drawing.add(chart)
    for k, (label, colour) in enumerate((("按时处置率%", "#3b7dd8"), ("满意率%", "#f0a030"))):
        drawing.add(
            Rect(
                40 * mm + k * 40 * mm,
                114 * mm,
                4 * mm,
                4 * mm,
                fillColor=colors.HexColor(colour),
                strokeColor=None,
            )
        )
        drawing.add(String(46 * mm + k * 40 * mm, 114.5 * mm, label, fontName=CJK, fontSize=9))
    return drawing


def _shade(pct: float | None, lo: float, hi: float) -> colors.Color:
    """Red for the lowest share of the towns, green for the highest (grey: none resolved)."""
    if pct is None:
        return colors.HexColor("#dddddd")
    t = 1.0 if hi <= lo else (pct - lo) / (hi - lo)
    return colors.Color(0.85 * (1 - t) + 0.2 * t, 0.25 * (1 - t) + 0.7 * t, 0.2)


def _map(towns: dict[str, Any], shapes: dict[int, shapely.Geometry]) -> Drawing:
    """The towns shaded by their on-time resolution share, each labelled with it."""
    width, height = 180 * mm, 150 * mm
    drawing = Drawing(width, height + 12 * mm)
    bounds = shapely.total_bounds(list(shapes.values()))
    minx, miny, maxx, maxy = bounds
    scale = min(width / (maxx - minx), height / (maxy - miny))
    by_id = {u["id"]: u for u in towns["units"]}
    shares = [u["resolved_on_time_pct"] for u in towns["units"]]
    lo, hi = (
        min((x for x in shares if x is not None), default=0.0),
        max((x for x in shares if x is not None), default=100.0),
    )
    for town_id, geom in shapes.items():
        unit = by_id.get(town_id)
        pct = unit["resolved_on_time_pct"] if unit else None
        polygons = getattr(geom, "geoms", [geom])
        for poly in polygons:
            points = []
            for x, y in poly.exterior.coords:
                points += [(x - minx) * scale, (y - miny) * scale]
            drawing.add(
                Polygon(
                    points, fillColor=_shade(pct, lo, hi), strokeColor=colors.white, strokeWidth=0.8
                )
            )
        if unit:
            c = geom.representative_point()
            drawing.add(
                String(
                    (c.x - minx) * scale,
                    (c.y - miny) * scale + 2,
                    unit["name"],
                    fontName=CJK,
                    fontSize=7,
                    textAnchor="middle",
                )
            )
            drawing.add(
                String(
                    (c.x - minx) * scale,
                    (c.y - miny) * scale - 7,
                    "-" if pct is None else f"{pct:g}%",
                    fontName=LATIN,
                    fontSize=7,
                    textAnchor="middle",
                )
            )
    drawing.add(
        String(
            0, height + 4 * mm, "按时处置率（红：50%及以下，绿：100%）", fontName=CJK, fontSize=9
        )
    )
    return drawing


def write_pdf(
    path: Path, reports: dict[str, dict[str, Any]], town_shapes: dict[int, shapely.Geometry]
) -> None:
    """The tables of every level, and for the towns a chart and a map."""
    title, body = _styles()
    first = next(iter(reports.values()))
    story: list = [
        Paragraph(f"{COUNTY_NAME}基层治理考核", title),
        Paragraph(f"考核期：{period_text(first['start'], first['end'])}（按受理时间）", body),
        Spacer(1, 4 * mm),
    ]
    for level, report in reports.items():
        story += [
            Paragraph(f"{LEVEL_NAMES[level]}（{len(report['units'])}）", body),
            Spacer(1, 2 * mm),
            _table(report),
            Spacer(1, 4 * mm),
        ]
        if level == "town" and report["units"]:
            story += [
                PageBreak(),
                Paragraph("各乡镇（街道）按时处置率与满意率", body),
                _chart(report),
                PageBreak(),
                Paragraph("各乡镇（街道）按时处置率", body),
                _map(report, town_shapes),
                PageBreak(),
            ]
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title=f"{COUNTY_NAME}考核",
    )
    doc.build(story)
