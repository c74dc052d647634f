-- Migration 0025: an alert says what it found in Chinese (summary: the command centre's
-- screen) and in English (summary_en, GET /alerts?lang=en), both from its kind's template
-- (citybrain.alerts.texts). Alerts raised before it said it in English only: that text stays,
-- and is their English too.
ALTER TABLE citybrain.alerts ADD COLUMN summary_en text;
UPDATE citybrain.alerts SET summary_en = summary;
