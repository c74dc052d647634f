-- Where a new camera could stand: every road vertex, and every compound's gate, taken as the
-- point of its boundary nearest a road (KNN on the roads' GiST index); the parameter kind is
-- the kind of compound that has gates. Parameters in SQLAlchemy's text() style.
SELECT 'road_vertex' AS source, v.id::text AS ref, v.geom FROM citybrain.road_vertices v
UNION ALL
SELECT 'gate', c.code, ST_ClosestPoint(ST_Boundary(c.geom), r.geom)
FROM citybrain.compounds c CROSS JOIN LATERAL (
  SELECT geom FROM citybrain.roads ORDER BY geom <-> c.geom LIMIT 1) r
WHERE c.kind = :kind
