-- Which database this is, the same on a primary and on its streaming standbys: the cluster's
-- system identifier and the database's oid (a database dropped and made again under its name
-- gets a new one), and the timeline (a promoted standby or a point-in-time recovery starts a new
-- one, whose transaction ids may repeat the old one's). Names the directory of the incident
-- index's shared files (services/incident_index/shared.py).
SELECT system_identifier::text, (SELECT oid FROM pg_database WHERE datname = current_database())::bigint,
       (SELECT timeline_id FROM pg_control_checkpoint())::bigint
FROM pg_control_system()
