-- The departments (a town's platforms, then the county's), with their town and how many
-- cases each holds now.
SELECT d.id, d.code, d.name, d.kind, d.town_id, t.name AS town, d.categories, d.phone,
       (SELECT count(*) FROM citybrain.incidents i
        WHERE i.department_id = d.id AND i.status IN {domain.ACTIVE_STATUSES}) AS active
FROM citybrain.departments d
LEFT JOIN citybrain.towns t ON t.id = d.town_id
WHERE (%(town_id)s::integer IS NULL OR d.town_id = %(town_id)s OR d.town_id IS NULL)
  AND (%(category)s::text IS NULL OR %(category)s = ANY (d.categories))
ORDER BY d.kind DESC, d.town_id, d.code
