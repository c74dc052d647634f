SELECT category, count(*) AS incidents
FROM citybrain.incidents WHERE reported_at >= %(since)s
GROUP BY category ORDER BY incidents DESC, category
