"""``python -m neurodyn.numerics``: the same as the ``neurodyn`` command."""

import sys

from .cli import main

sys.exit(main())
