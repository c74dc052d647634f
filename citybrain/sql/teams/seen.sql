-- A member of the team was seen at (lon, lat) at %(at)s (a patrol's point, an arrival on
-- site): the team's position for dispatch, unless it has a later one already or the point is
-- outside the county. A phone's clock ahead of the service's is taken as now (%(now)s), so a
-- stamp from the future cannot hold back the real positions after it. The position's age is
-- position_at's: dispatch can discount a stale one.
UPDATE citybrain.teams SET geom = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
       position_at = least(%(at)s, %(now)s)
WHERE id = %(id)s AND position_at < least(%(at)s, %(now)s)
  AND EXISTS (SELECT FROM citybrain.micro_grids m
              WHERE ST_Intersects(m.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)))
