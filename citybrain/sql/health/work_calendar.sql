-- Whether the working calendar (citybrain.work_periods, written by `citybrain db migrate`) holds
-- any session.
SELECT EXISTS (SELECT FROM citybrain.work_periods)
