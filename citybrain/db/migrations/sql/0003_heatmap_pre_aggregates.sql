-- Migration 0003: the triggers that keep the per-day and per-month heat counts exact, and
-- heat_rebuild for bulk loads. Migration 0007 drops them and its downgrade applies this file
-- again. The function bodies are as 0003 generated them, byte for byte (blank lines with
-- trailing spaces included).

CREATE FUNCTION citybrain.heat_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN

    INSERT INTO citybrain.incident_heat_day AS h (res, day, category, cell, n)
    
    SELECT v.res, (r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, 1 * count(*)
    FROM new_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, day, category, cell) DO UPDATE SET n = h.n + excluded.n;
    INSERT INTO citybrain.incident_heat_month AS h (res, month, category, cell, n)
    
    SELECT v.res, date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, 1 * count(*)
    FROM new_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, month, category, cell) DO UPDATE SET n = h.n + excluded.n;

    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN

    INSERT INTO citybrain.incident_heat_day AS h (res, day, category, cell, n)
    
    SELECT v.res, (r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, -1 * count(*)
    FROM old_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, day, category, cell) DO UPDATE SET n = h.n + excluded.n;
    INSERT INTO citybrain.incident_heat_month AS h (res, month, category, cell, n)
    
    SELECT v.res, date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, -1 * count(*)
    FROM old_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, month, category, cell) DO UPDATE SET n = h.n + excluded.n;


    DELETE FROM citybrain.incident_heat_day h
    USING old_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.day = (r.reported_at AT TIME ZONE 'UTC')::date
      AND h.category IN (r.category, '*') AND h.cell = v.cell;
    DELETE FROM citybrain.incident_heat_month h
    USING old_rows r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.month = date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date
      AND h.category IN (r.category, '*') AND h.cell = v.cell;

    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT o.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) THEN

    INSERT INTO citybrain.incident_heat_day AS h (res, day, category, cell, n)
    
    SELECT v.res, (r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, -1 * count(*)
    FROM (SELECT o.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, day, category, cell) DO UPDATE SET n = h.n + excluded.n;
    INSERT INTO citybrain.incident_heat_month AS h (res, month, category, cell, n)
    
    SELECT v.res, date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, -1 * count(*)
    FROM (SELECT o.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, month, category, cell) DO UPDATE SET n = h.n + excluded.n;


    INSERT INTO citybrain.incident_heat_day AS h (res, day, category, cell, n)
    
    SELECT v.res, (r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, 1 * count(*)
    FROM (SELECT n.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, day, category, cell) DO UPDATE SET n = h.n + excluded.n;
    INSERT INTO citybrain.incident_heat_month AS h (res, month, category, cell, n)
    
    SELECT v.res, date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, 1 * count(*)
    FROM (SELECT n.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell))
    ON CONFLICT (res, month, category, cell) DO UPDATE SET n = h.n + excluded.n;


    DELETE FROM citybrain.incident_heat_day h
    USING (SELECT o.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.day = (r.reported_at AT TIME ZONE 'UTC')::date
      AND h.category IN (r.category, '*') AND h.cell = v.cell;
    DELETE FROM citybrain.incident_heat_month h
    USING (SELECT o.* FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.reported_at, o.category, o.h3_5, o.h3_6, o.h3_7, o.h3_8, o.h3_9)
          IS DISTINCT FROM (n.reported_at, n.category, n.h3_5, n.h3_6, n.h3_7, n.h3_8, n.h3_9)) r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    WHERE h.n = 0 AND h.res = v.res AND h.month = date_trunc('month', r.reported_at AT TIME ZONE 'UTC')::date
      AND h.category IN (r.category, '*') AND h.cell = v.cell;

    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION citybrain.heat_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE citybrain.incident_heat_day, citybrain.incident_heat_month;
    RETURN NULL;
END $$;

-- From scratch, for bulk loads (which disable the insert trigger): set-based, with the keys
-- built once at the end, and months summed from days. Several times faster than the trigger
-- on a million rows.
CREATE FUNCTION citybrain.heat_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL work_mem = '256MB';
    TRUNCATE citybrain.incident_heat_day, citybrain.incident_heat_month;
    ALTER TABLE citybrain.incident_heat_day DROP CONSTRAINT incident_heat_day_pkey;
    ALTER TABLE citybrain.incident_heat_month DROP CONSTRAINT incident_heat_month_pkey;
    INSERT INTO citybrain.incident_heat_day (res, day, category, cell, n)
    
    SELECT v.res, (r.reported_at AT TIME ZONE 'UTC')::date AS b,
           CASE WHEN grouping(r.category) = 1 THEN '*' ELSE r.category END, v.cell, 1 * count(*)
    FROM citybrain.incidents r CROSS JOIN LATERAL (VALUES (5, r.h3_5), (6, r.h3_6), (7, r.h3_7), (8, r.h3_8), (9, r.h3_9)) v(res, cell)
    GROUP BY GROUPING SETS ((v.res, b, r.category, v.cell), (v.res, b, v.cell));
    INSERT INTO citybrain.incident_heat_month (res, month, category, cell, n)
    SELECT res, date_trunc('month', day)::date, category, cell, sum(n)
    FROM citybrain.incident_heat_day GROUP BY 1, 2, 3, 4;
    ALTER TABLE citybrain.incident_heat_day
        ADD CONSTRAINT incident_heat_day_pkey PRIMARY KEY (res, day, category, cell);
    ALTER TABLE citybrain.incident_heat_month
        ADD CONSTRAINT incident_heat_month_pkey PRIMARY KEY (res, month, category, cell);
END $$;

CREATE TRIGGER incidents_heat_insert AFTER INSERT ON citybrain.incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_insert();
CREATE TRIGGER incidents_heat_delete AFTER DELETE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_delete();
CREATE TRIGGER incidents_heat_update AFTER UPDATE ON citybrain.incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_update();
CREATE TRIGGER incidents_heat_truncate AFTER TRUNCATE ON citybrain.incidents
    FOR EACH STATEMENT EXECUTE FUNCTION citybrain.heat_truncate();
