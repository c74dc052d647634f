-- Like raw.sql for incidents that are not closed (a small set, by the partial index): what a
-- status filter adds or takes away.
SELECT {cell} AS cell, count(*) AS n
FROM citybrain.incidents
WHERE status <> 'closed' AND status = ANY (%(statuses)s::text[])
  AND reported_at >= %(start)s AND reported_at < %(end)s
  AND (%(categories)s::text[] IS NULL OR category = ANY (%(categories)s::text[]))
GROUP BY 1
