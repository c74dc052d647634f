-- The transaction's snapshot (xmax and the transactions in progress) and the incidents'
-- generation: where a full load of the index stands.
SELECT pg_snapshot_xmax(s)::text, ARRAY(SELECT pg_snapshot_xip(s)::text),
       coalesce((SELECT value FROM citybrain.meta WHERE key = 'incidents_generation'), '0')
FROM pg_current_snapshot() s
