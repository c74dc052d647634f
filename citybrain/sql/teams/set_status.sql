-- What a team says of itself: available, busy or off_duty.
UPDATE citybrain.teams SET status = %(status)s WHERE id = %(id)s RETURNING id
