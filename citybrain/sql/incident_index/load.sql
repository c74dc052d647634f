-- The incidents as the incident index holds them, a chunk at a time: the next %(rows)s incidents
-- by id after %(after)s, each as 76 bytes in one value (id, report time in microseconds since
-- 2000, category and status as their 0-based position in %(categories)s / %(statuses)s or past
-- the end when unknown, h3_5 .. h3_11), big-endian, and the chunk's last id (NULL: no more).
-- Several times faster to read than a COPY (one message a row) or arrays. In chunks because
-- libpq keeps its input buffer as large as the largest message it received, for as long as the
-- connection lives: one value of every incident kept ~76 bytes an incident in every process
-- whose pooled connection had loaded the index.
SELECT string_agg(
    int8send(id) || timestamptz_send(reported_at)
    || int2send((coalesce(array_position(%(categories)s::text[], category),
                          cardinality(%(categories)s::text[]) + 1) - 1)::int2)
    || int2send((coalesce(array_position(%(statuses)s::text[], status),
                          cardinality(%(statuses)s::text[]) + 1) - 1)::int2)
    || int8send(h3_5) || int8send(h3_6) || int8send(h3_7) || int8send(h3_8) || int8send(h3_9)
    || int8send(h3_10) || int8send(h3_11),
    ''::bytea),
    max(id)
FROM (SELECT * FROM citybrain.incidents WHERE id > %(after)s ORDER BY id LIMIT %(rows)s) i
