-- A new incident's public facts; triggers find its micro-grid and H3 cells.
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, reported_at, updated_at, geom)
VALUES (%(category)s, %(source)s, %(severity)s, {domain.Status.reported}, %(tier)s,
        coalesce(%(reported_at)s, %(now)s), %(now)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
RETURNING id, micro_grid_id
