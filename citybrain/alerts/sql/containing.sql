-- Open alerts whose area holds a point (dispatch tells the caller it is inside one).
SELECT id, detector, kind, category, area_name,
       CASE WHEN %(lang)s = 'en' THEN coalesce(summary_en, summary) ELSE summary END AS summary, recurrence_days, status
FROM citybrain.alerts
WHERE status = ANY (%(open)s::text[])
  AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
ORDER BY first_seen DESC
