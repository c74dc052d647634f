-- A new incident's case file (its scope: the trigger, from the incident).
INSERT INTO citybrain.case_files (incident_id, description, reporter_name, reporter_phone,
                                  reported_by)
VALUES (%(id)s, %(description)s, %(reporter_name)s, %(reporter_phone)s, %(reported_by)s)
