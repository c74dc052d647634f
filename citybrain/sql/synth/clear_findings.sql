-- What was found in, and put into, the county a seed replaces goes with it: its alerts, their
-- trail and runs, and the outbreaks injected into it.
TRUNCATE citybrain.alerts, citybrain.alert_events, citybrain.detector_runs, citybrain.outbreaks
    RESTART IDENTITY
