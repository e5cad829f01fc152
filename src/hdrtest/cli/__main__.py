"""``python -m hdrtest.cli``."""

import sys

from . import main

sys.exit(main())
