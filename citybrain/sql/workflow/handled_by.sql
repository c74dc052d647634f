-- Whether an actor took a step of handling this case (started it on site or reported it done;
-- a failed check also sends it back on site, and is no handling): who may not check it.
SELECT EXISTS (
    SELECT FROM citybrain.incident_events
    WHERE incident_id = %(id)s AND actor = %(actor)s
      AND to_status IN ({domain.Status.on_site}, {domain.Status.resolved})
      AND action <> %(failed_check)s
)
