-- An area of one level (the table) by its code, with its bounding box.
SELECT id, code, name, derived, import_id,
       ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n
FROM (SELECT id, code, name, derived, import_id, ST_Envelope(geom) e
      FROM {table} WHERE code = %(code)s) x
