-- Alerts that a detector's run no longer sees: the condition has passed (the alert stays, for
-- the duty officer to close; a later finding there raises a new one).
UPDATE citybrain.alerts SET active = false, updated_at = %(now)s
WHERE id = ANY (%(ids)s) AND active
