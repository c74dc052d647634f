-- A photo as its sender sent it (sent again by them: kept once, the first row answers).
WITH added AS (
    INSERT INTO citybrain.photos (id, uploaded_by, media_type, bytes, width, height,
                                  uploaded_at, taken_at, geom)
    VALUES (%(id)s, %(actor)s, %(media_type)s, %(bytes)s, %(width)s, %(height)s, %(at)s,
            %(taken_at)s,
            CASE WHEN %(lon)s::float8 IS NOT NULL
                 THEN ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) END)
    ON CONFLICT DO NOTHING
    RETURNING *
), answer AS (
    SELECT *, true AS created FROM added
    UNION ALL
    SELECT *, false FROM citybrain.photos
    WHERE id = %(id)s AND uploaded_by = %(actor)s AND NOT EXISTS (SELECT FROM added)
)
SELECT id, media_type, bytes, width, height, uploaded_at, taken_at,
       ST_X(geom) AS lon, ST_Y(geom) AS lat, created
FROM answer
