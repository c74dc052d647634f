-- The same alert seen again (a cluster grown, moved or shrunk): its latest shape and figures;
-- its incidents are every incident it has held.
UPDATE citybrain.alerts SET
    area_codes = %(area_codes)s, area_name = %(area_name)s, geom = ST_GeomFromWKB(%(wkb)s, 4326),
    summary = %(summary)s, summary_en = %(summary_en)s, observed = %(observed)s, expected = %(expected)s,
    statistic = %(statistic)s, p_value = %(p_value)s, recurrence_days = %(recurrence_days)s,
    window_start = least(window_start, %(window_start)s), window_end = %(window_end)s,
    last_seen = %(now)s, active = true,
    incident_ids = ARRAY(SELECT DISTINCT unnest(incident_ids || %(incident_ids)s::bigint[])
                         ORDER BY 1),
    updated_at = %(now)s
WHERE id = %(id)s
