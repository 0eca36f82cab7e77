-- Pre-merged visitor sketches of aligned runs of days (funnel.sketch_blocks), so a
-- window's unique visitors merge a handful of sketches instead of one per property and
-- day. A block of level k (1..6) covers the 2^k days whose ordinal day numbers share
-- ordinal >> k, from first_day to last_day. It is the union of the daily_metric_rollups
-- rows of its property and days, which it names (day_rows, day_versions: their ids and
-- generated_at, by day): a reader uses a block only when those are exactly the rows it
-- sees, so a block that missed a change is never read, only ignored.
--
-- The rollups rebuild the blocks of a day in the transaction that replaces the day, from
-- the two halves one level down (days, then blocks).
CREATE TABLE visitor_sketch_blocks (
    id                      uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    level                   smallint     NOT NULL CHECK (level BETWEEN 1 AND 6),
    first_day               date         NOT NULL,
    property_id             varchar(128) NOT NULL,
    last_day                date         NOT NULL,
    -- NULL when none of its days has a visitors sketch
    visitors_sketch         bytea,
    -- {"organic_search": "<base64 sketch>", ...}, as on daily_metric_rollups
    source_visitor_sketches jsonb        NOT NULL DEFAULT '{}',
    day_rows                uuid[]       NOT NULL,
    day_versions            timestamptz[] NOT NULL,
    generated_at            timestamptz  NOT NULL,
    CONSTRAINT visitor_sketch_blocks_key UNIQUE (level, first_day, property_id),
    CONSTRAINT visitor_sketch_blocks_span CHECK (last_day = first_day + ((1 << level) - 1)),
    CONSTRAINT visitor_sketch_blocks_members CHECK (
        cardinality(day_rows) BETWEEN 1 AND (1 << level)
        AND cardinality(day_rows) = cardinality(day_versions))
);
