-- A member of the team was seen at (lon, lat) at %(at)s (a patrol's point, an arrival on
-- site): the team's position for dispatch, unless it has a later one already. Its age is
-- position_at's: dispatch can discount a stale one.
UPDATE citybrain.teams SET geom = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
       position_at = %(at)s
WHERE id = %(id)s AND position_at < %(at)s
