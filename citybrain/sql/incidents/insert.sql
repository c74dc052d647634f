-- A new incident; triggers find its micro-grid and H3 cells.
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, description, reported_at, updated_at,
     reporter_name, reporter_phone, geom)
VALUES (%(category)s, %(source)s, %(severity)s, {domain.Status.reported}, %(tier)s, %(description)s,
        coalesce(%(reported_at)s, %(now)s), %(now)s, %(reporter_name)s, %(reporter_phone)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
RETURNING id, micro_grid_id
