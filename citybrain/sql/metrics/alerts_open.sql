-- The alerts not closed, by kind and status, now (metrics.sample_alerts: citybrain_alerts_open).
-- The open statuses come from citybrain.domain. A scan of the table, sampled every few seconds
-- by each server process: alerts come a few a day, and years of them are a few thousand rows.
SELECT kind, status, count(*)::int AS n
FROM citybrain.alerts
WHERE status IN {domain.OPEN_ALERT_STATUSES}
GROUP BY kind, status
