-- A new incident's public facts (with the source system's number, when it has one: a 12345
-- work order's), and, in the same statement (one insert: one announcement, one tile bump),
-- the case it repeats (重复件): the latest of its category closed within %(radius_m)s metres
-- in the %(window)s before it was reported. Triggers find its micro-grid and H3 cells.
WITH p AS (
    SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom,
           coalesce(%(reported_at)s, %(now)s)::timestamptz AS at
)
INSERT INTO citybrain.incidents
    (category, source, severity, status, tier, reported_at, updated_at, geom, external_id,
     repeat_of)
SELECT %(category)s, %(source)s, %(severity)s, {domain.Status.reported}, %(tier)s, p.at,
       %(now)s, p.geom, %(external_id)s,
       (SELECT c.id FROM citybrain.incidents c
        WHERE c.category = %(category)s AND c.status = {domain.Status.closed}
          AND c.closed_at <= p.at AND c.closed_at >= p.at - %(window)s
          AND c.geom && ST_Expand(p.geom, %(radius_m)s / 90000.0)
          AND ST_DWithin(c.geom::geography, p.geom::geography, %(radius_m)s)
        ORDER BY c.closed_at DESC, c.id DESC LIMIT 1)
FROM p
RETURNING id, micro_grid_id
