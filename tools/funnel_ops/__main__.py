"""``python -m funnel_ops``: see :mod:`funnel_ops.cli`."""

import sys

from funnel_ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
