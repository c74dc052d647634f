-- Incidents per H3 cell at resolution %(res)s (5-9) in [start, end), all statuses, from the
-- pre-aggregates: a run of whole months, a run of days at each end (added, or subtracted from a
-- whole month when that reads fewer days), and the raw incidents of the partial days at either
-- end. {cell} is the incidents' column of the resolution; %(keys)s is the categories asked for,
-- or '*' (all categories together). UTC days and months.
SELECT cell, sum(n)::bigint AS n
FROM (
    SELECT cell, n FROM citybrain.incident_heat_month
    WHERE res = %(res)s AND month >= %(ma)s AND month < %(mb)s AND category = ANY (%(keys)s)
    UNION ALL
    SELECT cell, n * %(left_sign)s FROM citybrain.incident_heat_day
    WHERE res = %(res)s AND day >= %(l0)s AND day < %(l1)s AND category = ANY (%(keys)s)
    UNION ALL
    SELECT cell, n * %(right_sign)s FROM citybrain.incident_heat_day
    WHERE res = %(res)s AND day >= %(r0)s AND day < %(r1)s AND category = ANY (%(keys)s)
    UNION ALL
    SELECT {cell}, 1 FROM citybrain.incidents
    WHERE ((reported_at >= %(start)s AND reported_at < %(d0_at)s)
        OR (reported_at >= %(d1_at)s AND reported_at < %(end)s))
      AND (%(categories)s::text[] IS NULL OR category = ANY (%(categories)s::text[]))
) s
GROUP BY cell
HAVING sum(n) <> 0
