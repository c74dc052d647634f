INSERT INTO citybrain.alerts (
    detector, kind, category, level, area_codes, area_name, geom, summary, summary_en,
    observed, expected,
    statistic, p_value, recurrence_days, window_start, window_end, first_seen, last_seen,
    incident_ids)
VALUES (
    %(detector)s, %(kind)s, %(category)s, %(level)s, %(area_codes)s, %(area_name)s,
    ST_GeomFromWKB(%(wkb)s, 4326), %(summary)s, %(summary_en)s, %(observed)s, %(expected)s, %(statistic)s,
    %(p_value)s, %(recurrence_days)s, %(window_start)s, %(window_end)s, %(now)s, %(now)s,
    %(incident_ids)s)
RETURNING id
