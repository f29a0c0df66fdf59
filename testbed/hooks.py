"""The hook a control plane implements to drive a testbed network (the testbed never imports
controlplane/; experiments/ wires the two together).

    class MyController:
        def start(self, switches: list[SwitchInfo], topo: Topology) -> None: ...
        def dump_tables(self, switch: str) -> str: ...      # optional: the CLI's `tables`
        def stop(self) -> None: ...

    net.attach(MyController())   # start() is called with every switch's address, device
                                 # id, port map and gNMI address

The testbed tells a control plane nothing about failures: it learns of them from the
switches (their port status over gNMI, linkmon/gnmi.py), as a controller of real switches
would. The network's own LinkEvents are for the experiment's records (net.subscribe).
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from testbed.switches import SwitchInfo
from topologies.model import Topology

DEFAULT_FACTORY = "controlplane.testbed:ControlPlane"


class ControlPlane(Protocol):
    def start(self, switches: list[SwitchInfo], topo: Topology) -> None: ...

    def stop(self) -> None: ...


def load_factory(spec: str) -> Any:
    """ "module:attr" -> the attribute; ImportError/AttributeError say what is missing."""
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ValueError(f"--controller: expected MODULE:FACTORY, got {spec!r}")
    return getattr(importlib.import_module(mod), attr)
