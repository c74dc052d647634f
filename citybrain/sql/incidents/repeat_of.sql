-- 重复件: mark a new report that repeats a case of its category closed at the same place
-- (within %(radius_m)s metres) in the %(window)s before it was reported: the latest such.
UPDATE citybrain.incidents n SET repeat_of = (
    SELECT c.id FROM citybrain.incidents c
    WHERE c.category = n.category AND c.status = {domain.Status.closed} AND c.id <> n.id
      AND c.closed_at <= n.reported_at AND c.closed_at >= n.reported_at - %(window)s
      AND c.geom && ST_Expand(n.geom, %(radius_m)s / 90000.0)
      AND ST_DWithin(c.geom::geography, n.geom::geography, %(radius_m)s)
    ORDER BY c.closed_at DESC, c.id DESC LIMIT 1)
WHERE n.id = %(id)s
RETURNING n.repeat_of
