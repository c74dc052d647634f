-- An area named by its code, at whichever level holds that code: its level and the ids of the
-- town, village and grid it is or lies in (NULL below its level). The county is its own code.
SELECT 'county' AS level, NULL::integer AS town_id, NULL::integer AS village_id,
       NULL::integer AS grid_id
WHERE %(code)s = %(county)s
UNION ALL
SELECT 'town', t.id, NULL, NULL FROM citybrain.towns t WHERE t.code = %(code)s
UNION ALL
SELECT 'village', v.town_id, v.id, NULL FROM citybrain.villages v WHERE v.code = %(code)s
UNION ALL
SELECT 'grid', v.town_id, v.id, g.id
FROM citybrain.grids g JOIN citybrain.villages v ON v.id = g.village_id
WHERE g.code = %(code)s
LIMIT 1
