"""`python -m softswitch`: see softswitch.cli."""

import sys

from softswitch.cli import main

sys.exit(main())
