-- Pairs of the same level whose interiors intersect, with the shared area in m².
SELECT ARRAY[a.code, b.code], citybrain.area_m2(ST_Intersection(a.geom, b.geom)), 'overlap'
FROM {level} a
JOIN {level} b ON a.id < b.id AND a.geom && b.geom
WHERE ST_Relate(a.geom, b.geom, '2********')
ORDER BY a.code, b.code
