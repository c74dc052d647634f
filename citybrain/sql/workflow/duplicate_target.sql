-- The case a report would merge into, as the caller may see it (row-level security), held
-- (FOR SHARE) so that it cannot be closed, rejected or merged itself before the merge commits.
SELECT i.id, i.status, i.category
FROM citybrain.case_files f JOIN citybrain.incidents i ON i.id = f.incident_id
WHERE f.incident_id = %(id)s
FOR SHARE OF i
