-- Every incident as the heatmap index holds it, in one value: each row as 76 bytes (id, report
-- time in microseconds since 2000, category and status as their 0-based position in
-- %(categories)s / %(statuses)s or past the end when unknown, h3_5 .. h3_11), big-endian.
-- Several times faster to read than a COPY (one message a row) or arrays. A value holds at most
-- 1 GB: about 14 million incidents.
SELECT string_agg(
    int8send(id) || timestamptz_send(reported_at)
    || int2send((coalesce(array_position(%(categories)s::text[], category),
                          cardinality(%(categories)s::text[]) + 1) - 1)::int2)
    || int2send((coalesce(array_position(%(statuses)s::text[], status),
                          cardinality(%(statuses)s::text[]) + 1) - 1)::int2)
    || int8send(h3_5) || int8send(h3_6) || int8send(h3_7) || int8send(h3_8) || int8send(h3_9)
    || int8send(h3_10) || int8send(h3_11),
    ''::bytea)
FROM citybrain.incidents
