"""``python -m neurodyn``: the same as the ``neurodyn`` command."""

import sys

from neurodyn.cli import main

sys.exit(main())
