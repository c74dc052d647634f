-- Children sticking out of their parent (or whose parent is missing): the area outside, in m².
SELECT ARRAY[c.code, coalesce(p.code, '?')],
       CASE WHEN p.id IS NULL THEN citybrain.area_m2(c.geom)
            ELSE citybrain.area_m2(ST_Difference(c.geom, p.geom)) END AS area,
       CASE WHEN p.id IS NULL THEN 'parent missing' ELSE 'outside its parent' END
FROM {child} c
LEFT JOIN {parent} p ON p.id = c.{fk}
WHERE p.id IS NULL OR NOT ST_CoveredBy(c.geom, p.geom)
ORDER BY c.code
