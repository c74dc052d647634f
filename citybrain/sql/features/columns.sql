-- The columns of a map table and their types (format_type's names: 'text', 'bigint',
-- 'timestamp with time zone', 'geometry(Point,4326)'): what a layer's queryables are typed by.
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = ('citybrain.' || quote_ident(%(table)s))::regclass
  AND a.attnum > 0 AND NOT a.attisdropped
