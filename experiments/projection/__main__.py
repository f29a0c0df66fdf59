"""python -m experiments.projection: see experiments.projection.cli."""

import sys

from experiments.projection.cli import main

sys.exit(main())
