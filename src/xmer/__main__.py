"""``python -m xmer ...`` is the ``xmer`` command."""

import sys

from xmer.cli import main

sys.exit(main())
