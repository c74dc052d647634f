-- The working calendar is rewritten whole (citybrain.workhours.store).
DELETE FROM citybrain.work_periods
