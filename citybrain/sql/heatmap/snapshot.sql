-- Where the incidents stand: this statement's snapshot (xmax and the transactions in progress),
-- the generation, and the newest transaction that changed or deleted an incident. When the
-- latter two are older than an earlier snapshot's xmax and no transaction was in progress then,
-- nothing has changed since it. No parameters, so the plan is cached once (and uses the
-- indexes' ends); changes.sql fetches what did change.
SELECT pg_snapshot_xmax(s)::text, ARRAY(SELECT pg_snapshot_xip(s)::text),
       coalesce((SELECT value FROM citybrain.meta WHERE key = 'incidents_generation'), '0'),
       (SELECT max(changed) FROM citybrain.incidents)::text,
       (SELECT max(xid) FROM citybrain.incident_deletions)::text
FROM pg_current_snapshot() s
