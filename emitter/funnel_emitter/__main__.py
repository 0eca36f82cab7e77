"""``python -m funnel_emitter``: see :mod:`funnel_emitter.cli`."""

import sys

from funnel_emitter.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
