-- The photos of a case (the caller sees the case: checked before), in the order sent, with
-- the step that carried each and who sent it.
SELECT ip.photo_id AS id, ip.step, p.media_type, p.width, p.height, p.uploaded_by,
       p.uploaded_at, p.taken_at, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM citybrain.incident_photos ip
JOIN LATERAL (SELECT * FROM citybrain.photos q WHERE q.id = ip.photo_id
              ORDER BY q.uploaded_at LIMIT 1) p ON true
WHERE ip.incident_id = %(id)s
ORDER BY p.uploaded_at, ip.photo_id
