-- The first statement of a metrics report's transaction: every query of the report then
-- reads the same snapshot, so totals, trend and funnel agree even while a rollup lands.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
