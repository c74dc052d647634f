-- A new incident; the trigger finds its micro-grid.
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, description, reported_at, updated_at,
     reporter_name, reporter_phone, h3, geom)
VALUES (%(category)s, %(source)s, %(severity)s, 'reported', %(tier)s, %(description)s,
        coalesce(%(reported_at)s, now()), now(), %(reporter_name)s, %(reporter_phone)s, %(h3)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
RETURNING id, micro_grid_id
