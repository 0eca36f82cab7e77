"""Privacy (PIPEDA/CASL): delete by email, unsubscribe links and pages, the retention purge
and the audit log."""
