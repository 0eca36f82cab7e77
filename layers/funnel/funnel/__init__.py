"""Funnel's shared package, deployed as the ``FunnelLayer`` layer: one sub-package per role,
each importing only those before it in this order: ``platform`` (settings, runtime,
database, SQL, HTTP, keys, observability), ``capture`` (the marketing site's beacons and
leads), ``webhooks`` (the description service's), ``privacy`` (delete by email,
unsubscribe, retention), ``readmodel`` (the daily rollups and their sketches), ``metrics``
(the read API) and ``operations`` (migrations, health, the ingest buffer's replay)."""
