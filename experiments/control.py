"""The control plane per technology on one running network.

The network is brought up once with empty switches (no program); `TechnologyControl` is
attached to it once (`net.attach`: the switches' addresses). `select(tech)` stops the
previous control plane and starts `controlplane.testbed.ControlPlane` for the next: it pushes
that technology's pipeline to every switch (a fresh pipeline: empty tables, zero counters),
installs its base state and subscribes to the switches' port status, from which it learns of
failures (nothing is passed on from the testbed).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from topologies.model import Topology
from wire.technology import Technology


class TechnologyControl:
    """The testbed hook (start, dump_tables, stop) in front of the current technology's
    ControlPlane."""

    def __init__(self, build: Path, root_sid_file: Path, bier_frr: bool = True) -> None:
        self.build = build
        self.root_sid_file = root_sid_file
        self.bier_frr = bier_frr
        self.cp: Any = None
        self.technology: str | None = None
        self._switches: list[Any] = []
        self._topo: Topology | None = None
        self.root_sids: list[int] = []

    # -- the testbed hook ------------------------------------------------------------------
    def start(self, switches: list[Any], topo: Topology) -> None:
        self._switches, self._topo = switches, topo

    def dump_tables(self, switch: str) -> str:
        return self.cp.dump_tables(switch) if self.cp is not None else "no technology selected"

    def stop(self) -> None:
        if self.cp is not None:
            with contextlib.suppress(Exception):
                self.cp.stop()
        self.cp = None

    # -- for the runner --------------------------------------------------------------------
    def root_sid_file_for(self, key: str) -> Path:
        """Where the root SID of one of several deliveries at once is handed over."""
        return self.root_sid_file.with_name(f"{self.root_sid_file.name}-{key}")

    def _on_tree_root_sid(self, key: str, sid: Any) -> None:
        path = self.root_sid_file_for(key)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{sid}\n")
        tmp.replace(path)

    def _on_root_sid(self, sid: Any) -> None:
        # The SR controller's make-before-break hand-off: the sender re-reads this file (an
        # MPLS label, or over SRv6 the root's SID address).
        self.root_sids.append(sid)
        tmp = self.root_sid_file.with_suffix(".tmp")
        tmp.write_text(f"{sid}\n")
        tmp.replace(self.root_sid_file)

    def select(self, technology: str) -> dict[str, Any]:
        """Push `technology`'s pipeline and install its base state; the install's writes
        (every entity installed, from empty) and wall time."""
        from controlplane.testbed import ControlPlane

        if self._topo is None:
            raise RuntimeError("TechnologyControl: attach it to the network first")
        self.stop()
        self.root_sid_file.unlink(missing_ok=True)
        self.root_sids = []
        kw: dict[str, Any] = {}
        if Technology(technology).replication_segments:
            kw["on_root_sid"] = self._on_root_sid
            kw["on_tree_root_sid"] = self._on_tree_root_sid
            for old in self.root_sid_file.parent.glob(f"{self.root_sid_file.name}-*"):
                old.unlink(missing_ok=True)
        if technology == Technology.BIER:
            kw["frr"] = self.bier_frr
        cp = ControlPlane(technology, build=self.build, **kw)
        t0 = time.perf_counter()
        try:
            cp.start(self._switches, self._topo)
        except BaseException:
            with contextlib.suppress(Exception):
                cp.stop()
            raise
        self.cp, self.technology = cp, technology
        seconds = time.perf_counter() - t0
        ctl = cp.controller
        writes = sum(len(v) for v in ctl.installed.values()) if ctl is not None else None
        return {"writes": writes, "duration_s": seconds}

    @property
    def controller(self) -> Any:
        return self.cp.controller if self.cp is not None else None

    def bfr_ids(self) -> dict[str, int]:
        ctl = self.controller
        if ctl is None or ctl.desired is None or ctl.desired.bier is None:
            return {}
        return dict(ctl.desired.bier.ids)
