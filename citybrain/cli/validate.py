"""``citybrain validate``: the hierarchy's gaps, overlaps, orphans and stray points, as
``citybrain.validate`` finds them; exit 1 when there are any."""

from __future__ import annotations

import typer

from citybrain.cli.common import console, database_url

app = typer.Typer()


@app.command()
def validate() -> None:
    """Check the hierarchy: gaps, overlaps, orphans, points outside every micro-grid."""
    from citybrain.db.connection import connect
    from citybrain.validate import find_violations

    with connect(database_url()) as conn:
        violations = find_violations(conn)
    if not violations:
        console.print("[green]no violations: every level tiles its parent[/green]")
        return
    # One line per violation, tab-separated: easy to read and to grep.
    print("level\tkind\tcodes\tarea_m2\tdetail")
    for v in violations:
        area = "" if v.area_m2 is None else f"{v.area_m2:.1f}"
        print(f"{v.level}\t{v.kind}\t{','.join(v.codes)}\t{area}\t{v.detail}")
    console.print(f"[red]{len(violations)} violations[/red]")
    raise typer.Exit(1)
