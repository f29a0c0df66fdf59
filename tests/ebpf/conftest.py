"""tests/ebpf: test_p4runtime_ebpf.py collects tests/p4src's P4Runtime tests again to run them
on the eBPF backend; their BMv2 runs are left to tests/p4src (BMv2 has no backends)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    again = [
        item
        for item in items
        if item.path.name == "test_p4runtime_ebpf.py"
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("target") == "bmv2"
    ]
    if again:
        config.hook.pytest_deselected(items=again)
        dropped = set(map(id, again))
        items[:] = [item for item in items if id(item) not in dropped]
