"""Options of the switch packet tests: --target softswitch|bmv2 (see harness.py)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        default=None,
        choices=("softswitch", "bmv2"),
        help="switch the packet tests run against (default: $SWITCH_TARGET or softswitch)",
    )
