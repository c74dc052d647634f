-- Which of the photos named the actor sent (a step or report may carry only its sender's).
SELECT DISTINCT id FROM citybrain.photos WHERE uploaded_by = %(actor)s AND id = ANY(%(ids)s)
