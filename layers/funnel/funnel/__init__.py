"""Funnel's shared package: settings, database access, SQL, migrations, schemas, auth and
the domain logic every Lambda handler calls. Deployed as the ``FunnelLayer`` layer."""
