SELECT id, detector, kind, category, level, area_codes, area_name,
       CASE WHEN %(lang)s = 'en' THEN coalesce(summary_en, summary) ELSE summary END AS summary, observed, expected,
       statistic, p_value, recurrence_days, window_start, window_end, first_seen, last_seen,
       active, status, snoozed_until, updated_at, cardinality(incident_ids) AS incidents,
       ST_AsGeoJSON(geom, 6)::json AS geometry, incident_ids
FROM citybrain.alerts WHERE id = %(id)s
