-- A patrol ends: its track is its points in time order (M: epoch seconds), its length the
-- geodesic length of that line, and its roads_share the share of its grid's roads (their
-- length within the grid) that the track passed within %(near_m)s metres of.
WITH line AS (
    SELECT CASE WHEN count(*) >= 2 THEN
               ST_SetSRID(ST_MakeLine(ST_MakePointM(ST_X(geom), ST_Y(geom),
                                                    extract(epoch FROM at)) ORDER BY at), 4326)
           END AS track
    FROM citybrain.patrol_points WHERE patrol_id = %(id)s
), grid_roads AS (
    SELECT ST_Intersection(r.geom, g.geom) AS geom
    FROM citybrain.patrols p
    JOIN citybrain.grids g ON g.id = p.grid_id
    JOIN citybrain.roads r ON ST_Intersects(r.geom, g.geom)
    WHERE p.id = %(id)s
), walked AS (
    SELECT sum(ST_Length(r.geom::geography)) AS total,
           sum(ST_Length(ST_Intersection(
               r.geom, ST_Buffer(ST_Force2D(l.track)::geography, %(near_m)s)::geometry
           )::geography)) AS near
    FROM grid_roads r, line l
    WHERE l.track IS NOT NULL
)
UPDATE citybrain.patrols p SET
    ended_at = %(ended_at)s,
    track = l.track,
    length_m = coalesce(ST_Length(ST_Force2D(l.track)::geography), 0),
    roads_share = CASE WHEN w.total > 0 THEN least(1, w.near / w.total) END
FROM line l, walked w
WHERE p.id = %(id)s
