-- A member's patrol by its key: when, its track (GeoJSON, times as M dropped) and what it
-- walked, and how many points it has.
SELECT p.id, p.client_key AS key, p.team_id, p.grid_id, p.started_at, p.ended_at,
       p.length_m, p.roads_share,
       ST_AsGeoJSON(ST_Force2D(p.track), 7)::json AS track,
       (SELECT count(*) FROM citybrain.patrol_points pp WHERE pp.patrol_id = p.id) AS points
FROM citybrain.patrols p
WHERE p.user_id = %(user_id)s AND p.client_key = %(key)s
