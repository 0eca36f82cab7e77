-- Visitors now (GET /v1/metrics/now, queries/metrics/count_visitors_now.sql): the distinct
-- visitors of a property with an event in the last five minutes, the one metrics read of
-- raw events. The property's index on occurred_at becomes a covering one, its visitor_id
-- carried in the leaves: the read is a range of the newest entries of one property, read
-- from the index alone where the visibility map allows (and otherwise from the few heap
-- pages the last minutes filled), so its cost follows the last five minutes' events, never
-- the size of the table. It replaces the index of the same keys rather than adding one,
-- so an event costs no more to write; every read that used the old one uses this one.
CREATE INDEX events_property_occurred_visitor_idx ON events (property_id, occurred_at) INCLUDE (visitor_id);
DROP INDEX events_property_occurred_idx;
