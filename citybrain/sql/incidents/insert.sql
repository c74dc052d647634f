-- A new incident; the trigger finds its micro-grid.
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, description, reported_at, updated_at,
     reporter_name, reporter_phone, h3, h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, geom)
VALUES (%(category)s, %(source)s, %(severity)s, 'reported', %(tier)s, %(description)s,
        coalesce(%(reported_at)s, now()), now(), %(reporter_name)s, %(reporter_phone)s, %(h3)s,
        %(h3_5)s, %(h3_6)s, %(h3_7)s, %(h3_8)s, %(h3_9)s, %(h3_10)s, %(h3_11)s,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
RETURNING id, micro_grid_id
