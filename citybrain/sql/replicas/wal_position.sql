-- The primary's WAL insert position: read after a commit (or a notification of one), at or
-- past it, so that a replica that has replayed it holds that write (Citybrain-LSN).
SELECT pg_current_wal_insert_lsn()::text
