-- Ingest without a row that every request of a property must lock.
--
-- Every accepted request of a property used to add to one counter row (property, day,
-- kind, outcome, code) and hold its lock until its commit was flushed, so a property's
-- requests queued behind one another. A counter is now kept in rows per database
-- backend: a request adds to the row of the backend that runs it (pg_backend_pid()), and
-- a backend runs one transaction at a time, so no request ever waits for another's
-- counter. A counter is the sum of its rows. The rollup folds a settled day's rows into
-- one per counter under backend_pid 0, where rows written by other means also go.
ALTER TABLE ingest_counters
    ADD COLUMN backend_pid integer NOT NULL DEFAULT 0,
    DROP CONSTRAINT ingest_counters_pkey,
    ADD PRIMARY KEY (property_id, day, kind, outcome, code, backend_pid);
