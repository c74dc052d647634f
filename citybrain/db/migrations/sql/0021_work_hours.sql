-- Time limits counted in working hours (工作时) or on the clock, per category and step.
--
-- citybrain.work_periods is the working calendar: every working session (a working day's
-- morning, its afternoon) with the working seconds of all the sessions before it. `citybrain db
-- migrate` writes it from the holidays package's calendar of China (citybrain.db.workhours), so
-- that a newly published year comes in with the package. A time limit's due time is then two
-- index lookups, and the working time between two instants a subtraction.
CREATE TABLE citybrain.work_periods (
    starts timestamptz PRIMARY KEY,
    ends timestamptz NOT NULL CHECK (ends > starts),
    before_s bigint NOT NULL UNIQUE CHECK (before_s >= 0)
);

-- (The functions are PL/pgSQL, whose statements' plans a session keeps: a due time costs some
-- 20 microseconds, a SQL function that is not inlined some 300.)

-- Working seconds from the calendar's first session to `t` (0 before it).
CREATE FUNCTION citybrain.work_clock(t timestamptz) RETURNS double precision
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    s timestamptz; e timestamptz; b bigint;
BEGIN
    SELECT p.starts, p.ends, p.before_s INTO s, e, b FROM citybrain.work_periods p
    WHERE p.starts <= t ORDER BY p.starts DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    RETURN b + greatest(0, least(extract(epoch FROM t - s), extract(epoch FROM e - s)));
END $$;

-- The instant at which `working` of working time has passed since `t`: within a session, or at
-- the end of one (a limit that runs out at noon is due at noon, not after lunch). NULL past the
-- calendar's last session.
CREATE FUNCTION citybrain.work_due(t timestamptz, working interval) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    target double precision := citybrain.work_clock(t) + extract(epoch FROM working);
    s timestamptz; e timestamptz; b bigint;
BEGIN
    -- (before_s < target, on the index: before_s is whole seconds)
    SELECT p.starts, p.ends, p.before_s INTO s, e, b FROM citybrain.work_periods p
    WHERE p.before_s < ceil(target)::bigint ORDER BY p.before_s DESC LIMIT 1;
    IF NOT FOUND OR target - b > extract(epoch FROM e - s) THEN
        RETURN NULL;
    END IF;
    RETURN s + make_interval(secs => target - b);
END $$;

-- Each category's time limit for each step, from the step's start: on the clock (`working`
-- false: the command centre's minutes to dispatch, the emergencies' hours to settle) or in
-- working hours (a department's or a village's hours to settle), and when a case is warned of
-- it (黄牌: `warn_at` of the limit used up; 红牌: past it).
CREATE TABLE citybrain.time_limits (
    category text NOT NULL REFERENCES citybrain.categories (name) ON UPDATE CASCADE,
    step text NOT NULL CHECK (step IN ('dispatch', 'resolve')),
    minutes integer NOT NULL CHECK (minutes > 0),
    working boolean NOT NULL,
    warn_at numeric(3, 2) NOT NULL DEFAULT 0.8 CHECK (warn_at > 0 AND warn_at < 1),
    PRIMARY KEY (category, step)
);
-- Dispatch on the clock, as before; settling: the emergencies (治安, 消防, 交通) on the clock,
-- the rest in working hours, their hours kept (a 72-hour limit is now 72 working hours).
INSERT INTO citybrain.time_limits (category, step, minutes, working)
SELECT name, 'dispatch', dispatch_minutes, false FROM citybrain.categories
UNION ALL
SELECT name, 'resolve', resolve_hours * 60, name NOT IN ('治安', '消防', '交通')
FROM citybrain.categories;
-- (time_limits is now where a category's limits live)
ALTER TABLE citybrain.categories DROP COLUMN dispatch_minutes, DROP COLUMN resolve_hours;

-- A limit of `minutes` (on the clock, or in working hours when `working`) from `since`: when it
-- runs out, or with `share` < 1 when that share of it is used up (the 黄牌 warning). A SQL
-- expression, which the planner inlines into the statement that calls it.
CREATE FUNCTION citybrain.limit_due(since timestamptz, minutes integer, working boolean,
                                    share numeric DEFAULT 1)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN working
                THEN citybrain.work_due(since, make_interval(secs => 60.0 * minutes * share))
                ELSE since + make_interval(secs => 60.0 * minutes * share) END
$$;

-- Whether `upto` is within such a limit (or its share) from `since`. Working time runs no
-- faster than the clock, so an instant within the clock's limit is within the working one:
-- the calendar is read only for the rest (inlined too; a done step is on time when this holds).
CREATE FUNCTION citybrain.within_limit(since timestamptz, upto timestamptz, minutes integer,
                                       working boolean, share numeric DEFAULT 1)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT upto <= since + make_interval(secs => 60.0 * minutes * share)
        OR (working AND upto <= citybrain.work_due(since,
                                                   make_interval(secs => 60.0 * minutes * share)))
$$;

-- When a step that started at `since` is due for a case of `category` (NULL: no such limit).
CREATE FUNCTION citybrain.step_due(category text, step text, since timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT citybrain.limit_due(since, l.minutes, l.working) FROM citybrain.time_limits l
    WHERE l.category = step_due.category AND l.step = step_due.step
$$;

-- A step's card at `now`: 'red' (红牌) when it was done after its due time or is still undone
-- past it, 'yellow' (黄牌) when it is undone and its warn_at share of the limit is used up, NULL
-- otherwise (and for a category without such a limit). A done step is on time when its card is
-- NULL; statements over many cases join time_limits and ask within_limit instead (the same
-- rule, inlined).
CREATE FUNCTION citybrain.step_card(category text, step text, since timestamptz,
                                    done timestamptz, now timestamptz)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN NOT citybrain.within_limit(since, coalesce(done, now), l.minutes, l.working)
            THEN 'red'
        WHEN done IS NULL
             AND NOT citybrain.within_limit(since, now, l.minutes, l.working, l.warn_at)
            THEN 'yellow'
    END
    FROM citybrain.time_limits l
    WHERE l.category = step_card.category AND l.step = step_card.step
$$;

GRANT SELECT ON citybrain.work_periods, citybrain.time_limits TO citybrain_server;
