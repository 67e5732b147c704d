import sys

from xmer.cli import main

sys.exit(main())
