-- How many writes a table has had: every write counts into zoom 0 of tile_versions (a tile or
-- the whole zoom), or into the whole table (z = -1; 0004_tile_versions). Same number, same rows.
SELECT coalesce(sum(v), 0) FROM citybrain.tile_versions WHERE tbl = %(table)s AND z IN (-1, 0)
