-- Incidents per H3 cell ({cell}: the incidents' column of the resolution) in [start, end),
-- straight from the incidents (for resolutions finer than the pre-aggregates), optionally of
-- some statuses only.
SELECT {cell} AS cell, count(*) AS n
FROM citybrain.incidents
WHERE reported_at >= %(start)s AND reported_at < %(end)s
  AND (%(categories)s::text[] IS NULL OR category = ANY (%(categories)s::text[]))
  AND (%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s::text[]))
GROUP BY 1
