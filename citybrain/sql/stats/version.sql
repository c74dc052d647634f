-- How many writes the tables behind the KPIs have had (see features/table_version.sql).
SELECT coalesce(sum(v), 0) FROM citybrain.tile_versions
WHERE tbl IN ('incidents', 'cameras', 'teams') AND z IN (-1, 0)
