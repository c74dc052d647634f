-- The photos of cases (%(ids)s; the caller sees them: checked before), in the order sent, with
-- the step that carried each and the record of whoever carried it in.
SELECT ip.incident_id, ip.photo_id AS id, ip.step, p.media_type, p.width, p.height, p.uploaded_by,
       p.uploaded_at, p.taken_at, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM citybrain.incident_photos ip
JOIN citybrain.photos p ON p.id = ip.photo_id AND p.uploaded_by = ip.uploaded_by
WHERE ip.incident_id = ANY(%(ids)s)
ORDER BY ip.incident_id, p.uploaded_at, ip.photo_id
