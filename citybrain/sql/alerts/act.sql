UPDATE citybrain.alerts
SET status = %(to_status)s, snoozed_until = %(snoozed_until)s, updated_at = now()
WHERE id = %(id)s
