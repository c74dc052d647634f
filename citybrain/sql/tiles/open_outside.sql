-- Open incidents reported outside a window, per H3 cell at one resolution ({cell}: h3_<res>):
-- a windowed layer shows them beside the window's own. Through ix_incidents_open (only the open
-- ones are indexed), so the cost follows the open cases, not the years of history.
SELECT {cell}, count(*)
FROM citybrain.incidents
WHERE status = ANY(%(open)s)
  AND (reported_at < %(t0)s OR reported_at >= %(t1)s)
  AND (%(categories)s::text[] IS NULL OR category = ANY(%(categories)s))
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s))
GROUP BY 1
