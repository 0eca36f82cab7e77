-- The version of everything a metrics answer is computed from: the newest generated_at of
-- the three rollup tables and the newest finish of a successful rollup run (freshness).
-- A cached answer is served only while this is unchanged. Each max() is one probe of an
-- index (0005_metrics_indexes), so this stays cheap however large the rollups grow.
SELECT GREATEST(
           (SELECT max(generated_at) FROM daily_metric_rollups),
           (SELECT max(generated_at) FROM daily_ingest_rollups),
           (SELECT max(generated_at) FROM service_usage_rollups),
           (SELECT max(finished_at) FROM rollup_runs WHERE status = 'succeeded')
       ) AS version
