-- Late writes are rolled up (funnel.dirty_days): a day that changes after the scheduled
-- runs stopped recomputing it is marked dirty, and every scheduled run recomputes the
-- marked days, whatever their age within raw retention.
--
-- A write dated today or yesterday (by the writer's clock) marks nothing: the scheduled
-- runs recompute those days anyway, and each day is marked once more when it settles (an
-- hour after the next day ends, when no such write can still commit), so the last of
-- them is always rolled up. A write to an older day marks it in the write's own
-- transaction.
--
-- A mark is one row per day and database backend, like the ingest counters' (0009): a
-- backend runs one transaction at a time, so writers never wait for each other's mark,
-- however many late writes of one day arrive at once; the marks of settling days are the
-- rows of backend 0. Each (re)mark takes a new version; the rollup that recomputes a day
-- deletes only the marks whose version it read before it read the raw data, so a write
-- that commits meanwhile leaves its mark for the next run.
CREATE SEQUENCE rollup_dirty_days_version_seq AS bigint;

CREATE TABLE rollup_dirty_days (
    day          date        NOT NULL,
    backend_pid  integer     NOT NULL,
    version      bigint      NOT NULL DEFAULT nextval('rollup_dirty_days_version_seq'),
    -- when the day was first marked by this backend since its last rollup
    marked_at    timestamptz NOT NULL,
    PRIMARY KEY (day, backend_pid)
);

-- The latest day that has settled: marked once as it settled, then marked by every write
-- to it. NULL: no day has settled yet, so the next scheduled run marks every day that raw
-- retention keeps and that has settled. One row.
CREATE TABLE rollup_settled (
    one_row          boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    settled_through  date
);

-- A database that has rolled up before may hold late writes no run ever recomputed (the
-- defect this fixes): every retained day is recomputed once, over the next runs. A new
-- database holds none: the days that have settled by now (as the rollup reckons it) are
-- done with.
INSERT INTO rollup_settled (settled_through)
SELECT CASE WHEN EXISTS (SELECT 1 FROM rollup_runs) THEN NULL
            ELSE ((now() - interval '1 hour') AT TIME ZONE 'UTC')::date - 2
       END;

-- What a scheduled run did beyond its days: the dirty days it recomputed, and those left
-- for the next run (past its bound, or out of time).
ALTER TABLE rollup_runs
    ADD COLUMN dirty_days   integer NOT NULL DEFAULT 0,
    ADD COLUMN carried_days integer NOT NULL DEFAULT 0;
