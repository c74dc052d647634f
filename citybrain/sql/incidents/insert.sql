-- A new incident's public facts (with the source system's number, when it has one: a 12345
-- work order's); triggers find its micro-grid and H3 cells.
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, reported_at, updated_at, geom, external_id)
VALUES (%(category)s, %(source)s, %(severity)s, {domain.Status.reported}, %(tier)s,
        coalesce(%(reported_at)s, %(now)s), %(now)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(external_id)s)
RETURNING id, micro_grid_id
