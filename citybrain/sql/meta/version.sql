-- The version of a body of data (roads_version, county_version): a fresh value at each load,
-- so that a process holding a copy in memory knows when to read it again.
SELECT value FROM citybrain.meta WHERE key = %(key)s
