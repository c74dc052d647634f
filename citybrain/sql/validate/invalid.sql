-- Geometries that are not valid polygons.
SELECT ARRAY[code], NULL::float8, ST_IsValidReason(geom)
FROM {level}
WHERE NOT ST_IsValid(geom)
ORDER BY code
