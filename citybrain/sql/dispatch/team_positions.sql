-- Where the available teams handling a category are, in a box around a point, other than
-- those already seen: just positions, for the router to time (see services/dispatch.py).
SELECT t.id, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat
FROM citybrain.teams t
WHERE t.geom && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(box)s)
  AND t.status = {domain.TeamStatus.available} AND t.skills @> ARRAY[%(skill)s::text]
  AND t.id <> ALL(%(seen)s)
