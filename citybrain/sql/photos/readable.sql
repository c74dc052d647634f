-- A photo the caller may see: one they sent, or one of a case their area and role hold
-- (row-level security on case_files decides); its type, and whether it is theirs.
SELECT p.id, p.media_type
FROM citybrain.photos p
WHERE p.id = %(id)s
  AND (p.uploaded_by = %(actor)s
       OR EXISTS (SELECT FROM citybrain.incident_photos ip
                  JOIN citybrain.case_files f ON f.incident_id = ip.incident_id
                  WHERE ip.photo_id = p.id))
LIMIT 1
