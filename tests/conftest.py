"""Shared pytest configuration: skip tests whose environment needs are absent, with the reason."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def _have_mininet() -> bool:
    return importlib.util.find_spec("mininet") is not None


# marker -> (is the need met?, why the test is skipped when it is not)
_NEEDS = {
    "root": (lambda: os.geteuid() == 0, "needs root for network namespaces, veth and tc"),
    "mininet": (
        lambda: os.geteuid() == 0 and _have_mininet(),
        "needs root and the Mininet package (Debian 'mininet', installed by make setup)",
    ),
    "bmv2": (
        lambda: shutil.which("simple_switch_grpc") is not None,
        "needs BMv2 simple_switch_grpc on PATH (installed in the vagrant/ VM only)",
    ),
    "p4c": (
        lambda: shutil.which("p4c-bm2-ss") is not None,
        "needs the p4c-bm2-ss compiler on PATH (installed in the vagrant/ VM only)",
    ),
    "frr": (
        lambda: os.path.exists("/usr/lib/frr/pimd") and os.geteuid() == 0,
        "needs root and FRR's pimd (/usr/lib/frr/pimd, Debian package 'frr')",
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/switch/: pytest reads options only from the root conftest.
    parser.addoption(
        "--target",
        default=None,
        choices=("softswitch", "bmv2"),
        help="switch the packet tests run against (default: $SWITCH_TARGET or softswitch)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    verdicts: dict[str, bool] = {}
    for item in items:
        for name, (check, reason) in _NEEDS.items():
            if item.get_closest_marker(name) is None:
                continue
            if name not in verdicts:
                verdicts[name] = check()
            if not verdicts[name]:
                item.add_marker(pytest.mark.skip(reason=reason))
