-- Ingest without a row that every request of a property, or every webhook of a tenant,
-- must lock.
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

-- A delivery now writes its tenant's milestone row only when it changes it, and a busy
-- tenant's scans mostly would not, but for the time of the latest one: the 30-day
-- activity reads only the day of the latest scan, so the row keeps the earliest scan of
-- that day, which the day's later scans leave alone. Rows stored before hold the latest
-- scan of that day; the raw events still kept tell its earliest.
COMMENT ON COLUMN tenant_milestones.last_scan_at IS
    'The earliest completed scan of the latest UTC day with one (what is read is its day).';
UPDATE tenant_milestones m
   SET last_scan_at = earliest.occurred_at
  FROM (SELECT e.tenant_id, min(e.occurred_at) AS occurred_at
          FROM tenant_milestones t
          JOIN tenant_events e
            ON e.tenant_id = t.tenant_id
           AND e.event_type = 'scan.completed'
           AND e.occurred_at >= date_trunc('day', t.last_scan_at, 'UTC')
         GROUP BY e.tenant_id) earliest
 WHERE m.tenant_id = earliest.tenant_id
   AND earliest.occurred_at < m.last_scan_at;
