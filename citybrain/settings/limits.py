"""The bounds of every request's work: deadlines, sizes, turns for heavy answers, live
streams, imports."""

from __future__ import annotations

from pydantic import Field

from citybrain.settings.base import Part


class LimitSettings(Part):
    """The bounds of every request's work: deadlines, sizes, turns for heavy answers, live
    streams, imports."""

    heavy_slots: int = Field(
        default=2,
        ge=1,
        description="heavy answers (heatmaps, uncached tiles, OGC pages) one "
        "server process builds at once; more wait their turn",
    )
    heavy_slots_database: int = Field(
        default=1,
        ge=0,
        description="heavy answers built at once across every server process on the database "
        "(advisory locks); keep it below the database's cores, so that dispatch always finds "
        "one; 0: no limit",
    )
    heavy_wait_s: float = Field(
        default=10.0, gt=0, description="longest a heavy answer waits its turn (503 after)"
    )
    statement_timeout_ms: int = Field(
        default=15_000,
        ge=100,
        description="longest a statement of a request to the public workers may run (heatmaps, "
        "layers, analytics)",
    )
    dispatch_statement_timeout_ms: int = Field(
        default=3_000,
        ge=100,
        description="longest a statement of a request to the dispatch process may run "
        "(CITYBRAIN_DISPATCH_PORT; its statements take milliseconds). Through a pooler, the "
        "pooler login's own deadline applies to both",
    )
    max_body_kb: int = Field(
        default=1024, ge=1, description="largest request body but an import's, in KB"
    )
    max_header_kb: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="largest request line and headers, in KB (431 past it, counted as they "
        "arrive: nothing larger is read)",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="longest a request's line and headers may take to arrive (408 after)",
    )
    body_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a request body must bring at least 1 KB in every this many seconds "
        "until it is complete (408 otherwise): slow links pass, a dripped body does not",
    )
    max_offset: int = Field(default=100_000, ge=0, description="deepest OGC items page")
    max_heatmap_cells: int = Field(
        default=250_000, ge=1, description="cells in one heatmap answer (a year at res 11: ~153k)"
    )
    max_tile_hexagons: int = Field(
        default=20_000, ge=1, description="hexagons in one heatmap tile (a screenful: ~2,000)"
    )
    max_event_streams: int = Field(
        default=500, ge=1, description="live streams (/events) one server process holds"
    )
    max_event_streams_per_client: int = Field(
        default=16,
        ge=1,
        description="live streams one client holds on one server process: one key (by its "
        "name), or one address without a key (a wall of screens behind one address: raise it)",
    )
