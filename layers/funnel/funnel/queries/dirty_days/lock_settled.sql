-- The latest day that has settled (NULL: none yet; no row: the table was emptied), locked
-- until the run's first transaction ends, so two runs settle days one after the other.
SELECT settled_through
  FROM rollup_settled
   FOR UPDATE
