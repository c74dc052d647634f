-- The case a report would merge into, as the caller may see it (row-level security).
SELECT i.id, i.status, i.category
FROM citybrain.case_files f JOIN citybrain.incidents i ON i.id = f.incident_id
WHERE f.incident_id = %(id)s
