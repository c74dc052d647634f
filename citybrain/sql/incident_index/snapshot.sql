-- Where the incidents stand: this statement's snapshot (xmax and the transactions in progress),
-- the generation, and the newest transaction that changed or deleted an incident. When the
-- latter two are older than an earlier snapshot's xmax and no transaction was in progress then,
-- nothing has changed since it. No parameters, so the plan is cached once (and uses the
-- indexes' ends); changes.sql fetches what did change.
--
-- On a hot standby (a read replica) pg_current_snapshot() lists no transaction in progress: the
-- standby cannot tell top-level transactions from subtransactions and PostgreSQL keeps them all
-- where pg_snapshot_xip does not look. There the snapshot is taken as of its xmin, before which
-- every transaction has ended, with none in progress: the next look reads again whatever began
-- since, which is exact (rows are applied by id in their current state), if a little more work.
SELECT (CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(s) ELSE pg_snapshot_xmax(s) END)::text,
       CASE WHEN pg_is_in_recovery() THEN ARRAY[]::text[]
            ELSE ARRAY(SELECT pg_snapshot_xip(s)::text) END,
       coalesce((SELECT value FROM citybrain.meta WHERE key = 'incidents_generation'), '0'),
       (SELECT max(changed) FROM citybrain.incidents)::text,
       (SELECT max(xid) FROM citybrain.incident_deletions)::text
FROM pg_current_snapshot() s
