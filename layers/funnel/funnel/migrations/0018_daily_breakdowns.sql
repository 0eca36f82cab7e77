-- Breakdowns of a property's day (funnel.rollups, GET /v1/metrics/summary?includeBreakdowns=true):
-- one row per dimension and key of the day's page views, so the metrics API answers top
-- landing pages, top pages, device types, countries and traffic sources of any window from
-- rollups, never from raw events.
--
-- dimension is landing_page (the path a visit entered on), page (the path viewed), device
-- (device_type), country (two letters, or '(not set)') or source (traffic_source). Counts
-- are stored per day, so a window's are exact sums; visitors_sketch is the HyperLogLog of
-- the key's visitors that day (funnel.sketch), merged across days for a window's visitors.
-- Past ROLLUP_BREAKDOWN_KEYS_PER_DAY keys of a dimension, a property's day folds the rest
-- into one '(other)' row, so a flood of distinct paths cannot grow the table without bound.
--
-- A recompute of a day deletes its rows and inserts the new ones in one statement, under
-- the day's rollup lock, like every rollup table (a key may disappear from a day).
CREATE TABLE daily_breakdown_rollups (
    id               uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    property_id      varchar(128)  NOT NULL,
    day              date          NOT NULL,
    dimension        varchar(16)   NOT NULL
                     CHECK (dimension IN ('landing_page', 'page', 'device', 'country', 'source')),
    key              varchar(2048) NOT NULL,
    visitors         integer       NOT NULL,
    visitors_sketch  bytea         NOT NULL,
    page_views       integer       NOT NULL,
    -- landing_page: the visits that entered there, and those of them that converted;
    -- page: entrances and converted entrances on the path; 0 for the other dimensions' keys
    -- where no visit entered
    entrances        integer       NOT NULL DEFAULT 0,
    conversions      integer       NOT NULL DEFAULT 0,
    generated_at     timestamptz   NOT NULL
);
CREATE INDEX daily_breakdown_rollups_property_day_idx ON daily_breakdown_rollups (property_id, day);
CREATE INDEX daily_breakdown_rollups_day_idx ON daily_breakdown_rollups (day);
