SELECT detector, max(started_at) FROM citybrain.detector_runs GROUP BY detector
