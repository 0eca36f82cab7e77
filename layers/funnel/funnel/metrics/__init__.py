"""The metrics API: the summary, service usage and visitors now, read from the read model,
and their CSV tables."""
