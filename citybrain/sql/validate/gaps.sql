-- The part of each parent that none of its children covers, in m².
SELECT ARRAY[p.code],
       CASE WHEN u.geom IS NULL THEN citybrain.area_m2(p.geom)
            ELSE citybrain.area_m2(ST_Difference(p.geom, u.geom)) END,
       CASE WHEN u.geom IS NULL THEN 'no children' ELSE 'not covered by its children' END
FROM {parent} p
LEFT JOIN (
    SELECT {fk} AS parent_id, ST_Union(geom) AS geom FROM {child} GROUP BY {fk}
) u ON u.parent_id = p.id
WHERE u.geom IS NULL OR NOT ST_CoveredBy(p.geom, u.geom)
ORDER BY p.code
