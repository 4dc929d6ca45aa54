"""``python -m distill``: see :mod:`distill.cli`."""

import sys

from .cli import main

sys.exit(main())
