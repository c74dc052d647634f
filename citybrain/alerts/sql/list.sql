-- Alerts newest first, filtered; every filter is optional (NULL: any).
SELECT id, detector, kind, category, level, area_codes, area_name,
       CASE WHEN %(lang)s = 'en' THEN coalesce(summary_en, summary) ELSE summary END AS summary, observed, expected,
       statistic, p_value, recurrence_days, window_start, window_end, first_seen, last_seen,
       active, status, snoozed_until, updated_at, cardinality(incident_ids) AS incidents,
       ST_AsGeoJSON(geom, 6)::json AS geometry
FROM citybrain.alerts
WHERE (%(status)s::text[] IS NULL OR status = ANY (%(status)s::text[]))
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(detector)s::text IS NULL OR detector = %(detector)s)
  AND (%(area)s::text IS NULL OR %(area)s = ANY (area_codes))
  AND (%(since)s::timestamptz IS NULL OR last_seen >= %(since)s)
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
  AND (%(snoozed)s::boolean IS NULL
       OR (coalesce(snoozed_until > %(now)s::timestamptz, false)) = %(snoozed)s)
  AND (%(xmin)s::float8 IS NULL
       OR geom && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326))
ORDER BY first_seen DESC, id DESC
LIMIT %(limit)s
