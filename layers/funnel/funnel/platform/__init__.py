"""The platform every function stands on: settings, the per-container runtime, the database
and its deadlines, SQL loading, secrets, errors, the HTTP resolver and its guards, keys,
the per-client bound, the ingest buffer's queue, signatures, migrations and observability.
Nothing here knows a funnel metric; everything else imports from here."""
