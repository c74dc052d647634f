UPDATE citybrain.alerts
SET status = %(to_status)s, snoozed_until = %(snoozed_until)s, updated_at = %(at)s
WHERE id = %(id)s
