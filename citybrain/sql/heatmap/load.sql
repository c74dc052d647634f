-- Every incident as the heatmap index holds it, for a binary COPY: fixed-width columns only
-- (categories and statuses as their 0-based position in %(categories)s / %(statuses)s, past the
-- end when unknown), so each row is the same 122 bytes.
SELECT id, reported_at,
       (coalesce(array_position(%(categories)s::text[], category),
                 cardinality(%(categories)s::text[]) + 1) - 1)::int2,
       (coalesce(array_position(%(statuses)s::text[], status),
                 cardinality(%(statuses)s::text[]) + 1) - 1)::int2,
       h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11
FROM citybrain.incidents
