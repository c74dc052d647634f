-- The county's incident categories and their time limits, whatever happened recently: what a
-- filter offers is the list, not the last month's data.
SELECT name, name_en, slug, base_tier, dispatch_minutes, resolve_hours
FROM citybrain.categories
ORDER BY name
