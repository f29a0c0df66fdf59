"""The hook a control plane implements to drive a testbed network (the testbed never imports
controlplane/; experiments/ wires the two together).

    class MyController:
        def start(self, switches: list[SwitchInfo], topo: Topology) -> None: ...
        def on_link_event(self, event: LinkEvent) -> None: ...
        def dump_tables(self, switch: str) -> str: ...      # optional: the CLI's `tables`
        def stop(self) -> None: ...

    net.attach(MyController())   # start() is called with every switch's address, device
                                 # id and port map; link events follow as they happen
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from testbed.failures import LinkEvent
from testbed.switches import SwitchInfo
from topologies.model import Topology

DEFAULT_FACTORY = "controlplane.testbed:ControlPlane"


class ControlPlane(Protocol):
    def start(self, switches: list[SwitchInfo], topo: Topology) -> None: ...

    def on_link_event(self, event: LinkEvent) -> None: ...

    def stop(self) -> None: ...


def load_factory(spec: str) -> Any:
    """ "module:attr" -> the attribute; ImportError/AttributeError say what is missing."""
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ValueError(f"--controller: expected MODULE:FACTORY, got {spec!r}")
    return getattr(importlib.import_module(mod), attr)
