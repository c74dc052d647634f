-- Whether the caller may see the case (row-level security on its case file).
SELECT EXISTS (SELECT FROM citybrain.case_files WHERE incident_id = %(id)s)
