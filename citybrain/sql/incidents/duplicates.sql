-- The unclosed cases a report may duplicate: of its category, within %(radius_m)s metres,
-- reported in the %(window)s before it (or after it, up to the same span: a report may come
-- in before the case it duplicates is registered), nearest first; only cases the caller may
-- see (row-level security on their case files).
SELECT c.id, c.status, c.reported_at, c.team_id, c.department_id,
       round(ST_Distance(c.geom::geography, n.geom::geography)::numeric, 1)::float8
           AS distance_m
FROM citybrain.incidents n
JOIN citybrain.incidents c
  ON c.category = n.category AND c.id <> n.id
 AND c.status IN {domain.UNCLOSED}
 AND c.reported_at BETWEEN n.reported_at - %(window)s AND n.reported_at + %(window)s
 AND c.geom && ST_Expand(n.geom, %(radius_m)s / 90000.0)
 AND ST_DWithin(c.geom::geography, n.geom::geography, %(radius_m)s)
JOIN citybrain.case_files f ON f.incident_id = c.id
WHERE n.id = %(id)s
ORDER BY distance_m, c.id
LIMIT 50
