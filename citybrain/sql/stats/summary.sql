-- The big screen's headline numbers.
SELECT
    (SELECT count(*) FROM citybrain.incidents WHERE reported_at >= %(today)s) AS today,
    (SELECT count(*) FROM citybrain.incidents
      WHERE status IN {domain.OPEN_STATUSES}) AS open_now,
    (SELECT count(*) FROM citybrain.incidents
      WHERE status IN {domain.AWAITING_DISPATCH}) AS waiting_dispatch,
    (SELECT round(100.0 * count(*) FILTER (WHERE online) / nullif(count(*), 0), 1)
       FROM citybrain.cameras) AS cameras_online_pct,
    (SELECT count(*) FROM citybrain.cameras) AS cameras,
    (SELECT count(*) FILTER (WHERE status = {domain.TeamStatus.available})
       FROM citybrain.teams) AS teams_available,
    (SELECT count(*) FROM citybrain.teams) AS teams
