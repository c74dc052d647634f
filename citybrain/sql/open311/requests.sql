-- Service requests as GeoReport v2 lists them: the incidents given by id, or those reported in
-- [start, end) of the given categories and statuses, newest first, at most %(limit)s. Public
-- facts for everyone; the description comes from the case file, which row-level security shows
-- only to a caller who may read it (no row, so NULL, for anyone else).
SELECT i.id, i.category, i.status, i.tier, i.reported_at, i.updated_at,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, t.name AS team, d.name AS department,
       i.merged_into, m.status AS merged_status,
       citybrain.step_due(i.category, 'resolve', i.reported_at, i.extension_minutes)
           AS expected_at,
       (SELECT f.description FROM citybrain.case_files f WHERE f.incident_id = i.id)
           AS description
FROM citybrain.incidents i
LEFT JOIN citybrain.teams t ON t.id = i.team_id
LEFT JOIN citybrain.departments d ON d.id = i.department_id
LEFT JOIN citybrain.incidents m ON m.id = i.merged_into
WHERE CASE WHEN %(ids)s::bigint[] IS NOT NULL THEN i.id = ANY (%(ids)s::bigint[])
           ELSE i.reported_at >= %(start)s AND i.reported_at < %(end)s END
  AND (%(categories)s::text[] IS NULL OR i.category = ANY (%(categories)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR i.status = ANY (%(statuses)s::text[]))
ORDER BY i.reported_at DESC, i.id DESC
LIMIT %(limit)s
