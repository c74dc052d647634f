-- What changed in the incidents since a snapshot (its xmax and the transactions then in
-- progress, %(xip)s): the first row is this statement's own snapshot and the incidents'
-- generation; then every incident stamped by a transaction that was in progress then or began
-- later, in its current state (at most %(limit)s); then every id such a transaction deleted
-- that is gone now. One statement, so all of it is one snapshot.
WITH snap AS (SELECT pg_current_snapshot() AS s)
SELECT 's' AS kind, NULL::bigint AS id, NULL::timestamptz AS reported_at, NULL::text AS category,
       NULL::text AS status, NULL::bigint[] AS cells,
       -- (on a standby, as of its xmin with none in progress: snapshot.sql says why)
       (CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(s) ELSE pg_snapshot_xmax(s) END)::text
           AS xmax,
       CASE WHEN pg_is_in_recovery() THEN ARRAY[]::text[]
            ELSE ARRAY(SELECT pg_snapshot_xip(s)::text) END AS xip,
       coalesce((SELECT value FROM citybrain.meta WHERE key = 'incidents_generation'), '0')
FROM snap
UNION ALL
(SELECT 'i', id, reported_at, category, status,
        ARRAY[h3_5, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11], NULL, NULL, NULL
 FROM citybrain.incidents
 WHERE changed >= %(xmax)s::xid8 OR changed = ANY (%(xip)s::xid8[])
 LIMIT %(limit)s)
UNION ALL
(SELECT 'd', d.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
 FROM citybrain.incident_deletions d
 WHERE (d.xid >= %(xmax)s::xid8 OR d.xid = ANY (%(xip)s::xid8[]))
   AND NOT EXISTS (SELECT FROM citybrain.incidents i WHERE i.id = d.id)
 LIMIT %(limit)s)
