-- Geodesic metres between two points (a route's straight-line fallback).
SELECT ST_Distance(ST_SetSRID(ST_MakePoint(%(lon0)s, %(lat0)s), 4326)::geography,
                   ST_SetSRID(ST_MakePoint(%(lon1)s, %(lat1)s), 4326)::geography)
