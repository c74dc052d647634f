-- A team moved; its micro-grid follows (trigger), NULL outside the county.
UPDATE citybrain.teams SET geom = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
       position_at = %(at)s
WHERE id = %(id)s RETURNING micro_grid_id
