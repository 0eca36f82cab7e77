"""Operations: migrations at deploy time, the health report, and the replay of requests the
ingest buffer queued while the database was away."""
