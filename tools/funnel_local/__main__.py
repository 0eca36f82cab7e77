"""``python -m funnel_local``: the local runner's command line (see :mod:`funnel_local.cli`)."""

import os
import sys

if __name__ == "__main__":
    # The layer's loggers (migrations run in this process) take the service's name when
    # they are created, at import: set it first.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "funnel")
    # A Powertools Logger created in this process (the handlers the API documents or the
    # demo imports) would otherwise filter every record whose logger name contains the
    # service's, funnel_local's own included, out of the handler the command logs with.
    os.environ.setdefault("POWERTOOLS_LOG_DEDUPLICATION_DISABLED", "true")
    # Imported here, not above: every spawned worker re-imports this module as __mp_main__,
    # and must not load the gateway (or the layer) before its own environment is in place.
    from funnel_local.cli import main

    sys.exit(main())
