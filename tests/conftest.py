"""Shared pytest configuration: skip tests whose environment needs are absent, with the reason."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def _have_mininet() -> bool:
    return importlib.util.find_spec("mininet") is not None


def _ebpf_ok() -> tuple[bool, str]:
    from softswitch.ebpf.backend import availability

    return availability()


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
    "clang": (
        lambda: shutil.which("clang") is not None,
        "needs clang (Debian 'clang', installed by make setup) to build eBPF programs",
    ),
    "ebpf": (
        lambda: _ebpf_ok()[0],
        "needs the eBPF backend's environment: " + "root, clang, libbpf, BPF JIT",
    ),
    "frr": (lambda: _frr_missing() is None, lambda: _frr_missing()),
}


def _frr_missing() -> str | None:
    """Why the FRR (PIM-SM) network cannot forward multicast here, or None."""
    if os.geteuid() != 0 or not os.path.exists("/usr/lib/frr/pimd"):
        return "needs root and FRR's pimd (/usr/lib/frr/pimd, Debian package 'frr')"
    from pimsm.network import choose_dataplane

    dataplane, note = choose_dataplane()
    if dataplane == "none":
        return f"no router could forward multicast: {note}"
    return None


# `--fast` (make test-fast) leaves out every test with one of these markers: what remains needs
# no root, no Debian package and no toolchain, and is each part's unit tests.
FAST_EXCLUDES = ("slow", "root", "mininet", "frr", "bmv2", "p4c", "clang", "ebpf")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/switch/: pytest reads options only from the root conftest.
    parser.addoption(
        "--target",
        default=None,
        choices=("softswitch", "bmv2"),
        help="switch the packet tests run against (default: $SWITCH_TARGET or softswitch)",
    )
    parser.addoption(
        "--fast",
        action="store_true",
        help=f"only the tests marked none of {', '.join(FAST_EXCLUDES)} (make test-fast)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--fast"):
        slow = [i for i in items if any(i.get_closest_marker(m) for m in FAST_EXCLUDES)]
        if slow:
            config.hook.pytest_deselected(items=slow)
            left_out = set(map(id, slow))
            items[:] = [i for i in items if id(i) not in left_out]
    verdicts: dict[str, bool] = {}
    for item in items:
        for name, (check, reason) in _NEEDS.items():
            if item.get_closest_marker(name) is None:
                continue
            if name not in verdicts:
                verdicts[name] = check()
            if not verdicts[name]:
                item.add_marker(pytest.mark.skip(reason=reason() if callable(reason) else reason))
