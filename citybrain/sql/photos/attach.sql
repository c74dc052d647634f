-- The photos a step or report carried now show its case (the first step that carried one
-- is kept).
INSERT INTO citybrain.incident_photos (incident_id, photo_id, step)
SELECT %(incident_id)s, unnest(%(ids)s::text[]), %(step)s
ON CONFLICT DO NOTHING
