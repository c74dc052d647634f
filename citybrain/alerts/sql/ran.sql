INSERT INTO citybrain.detector_runs (detector, started_at, seconds, found, raised)
VALUES (%(detector)s, %(started_at)s, %(seconds)s, %(found)s, %(raised)s)
