"""Make the control-plane test helpers (cpf_*.py beside this file) importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
