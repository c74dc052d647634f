-- The photos a step or report carried (the actor's own: checked before) now show its case;
-- the first step that carried one is kept, with whose record of it the case shows.
INSERT INTO citybrain.incident_photos (incident_id, photo_id, step, uploaded_by)
SELECT %(incident_id)s, unnest(%(ids)s::text[]), %(step)s, %(actor)s
ON CONFLICT DO NOTHING
