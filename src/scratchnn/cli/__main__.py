"""``python -m scratchnn.cli``: the same as the ``scratchnn`` command."""

import sys

from . import main

sys.exit(main())
