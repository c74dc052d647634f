-- The county's incident categories and their time limits, whatever happened recently: what a
-- filter offers is the list, not the last month's data.
SELECT c.name, c.name_en, c.slug, c.base_tier, d.minutes AS dispatch_minutes,
       r.minutes / 60.0 AS resolve_hours, r.working AS resolve_in_working_hours
FROM citybrain.categories c
LEFT JOIN citybrain.time_limits d ON d.category = c.name AND d.step = 'dispatch'
LEFT JOIN citybrain.time_limits r ON r.category = c.name AND r.step = 'resolve'
ORDER BY c.name
