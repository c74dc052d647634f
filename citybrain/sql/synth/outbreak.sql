-- One injected outbreak of the synthetic county (the seed's ground truth, synth.outbreaks).
INSERT INTO citybrain.outbreaks (compound_code, category, started_at, ended_at, size, geom,
                                 incident_ids)
VALUES (%s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)
