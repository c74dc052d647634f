-- A batch of a patrol's points (one sent again is kept once: its time is its key); the
-- latest of them, for the team's position.
WITH added AS (
    INSERT INTO citybrain.patrol_points (patrol_id, at, geom, accuracy_m)
    SELECT %(id)s, p.at, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326), p.accuracy_m
    FROM unnest(%(at)s::timestamptz[], %(lon)s::float8[], %(lat)s::float8[],
                %(accuracy_m)s::real[]) AS p(at, lon, lat, accuracy_m)
    ON CONFLICT DO NOTHING
    RETURNING at, geom
)
SELECT count(*) AS added,
       (SELECT ST_X(geom) FROM added ORDER BY at DESC LIMIT 1) AS lon,
       (SELECT ST_Y(geom) FROM added ORDER BY at DESC LIMIT 1) AS lat,
       max(at) AS at
FROM added
