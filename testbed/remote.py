"""Act on a network another process owns (found through its state file): what
`python -m experiments.fail` uses. Only root-namespace interfaces are touched: the same
cable pull as Network.set_link (a cable's middles, else the switch-side ends), and the same
silent drop on the switch ends (a host's own end keeps sending; a link between switches
drops both ways). Restoring takes back whichever was done, seen on the interfaces."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from testbed.failures import FAIL_QDISC, LinkEvent, Mode, check_mode, is_shaped, silent_command
from testbed.state import Recorded, runs


class RemoteError(RuntimeError):
    pass


def find_run(run_id: str | None = None, state_dir: Path | None = None) -> Recorded:
    live = [r for r in runs(state_dir) if r.owner_alive]
    if run_id is not None:
        match = [r for r in live if r.run_id == run_id or r.prefix == run_id]
        if len(match) != 1:
            have = ", ".join(r.run_id for r in live) or "none"
            raise RemoteError(f"no single running network {run_id!r}; running: {have}")
        return match[0]
    if len(live) != 1:
        have = ", ".join(r.run_id for r in live) or "none"
        raise RemoteError(f"{len(live)} networks running ({have}): name one with --run")
    return live[0]


class RemoteNetwork:
    def __init__(self, rec: Recorded) -> None:
        self.rec = rec

    def _link(self, name: str) -> tuple[str, tuple[str, str]]:
        a, _, b = name.partition("-")
        for key in (f"{a}-{b}", f"{b}-{a}"):
            if key in self.rec.links:
                return key, self.rec.links[key]
        raise RemoteError(f"run {self.rec.run_id} has no link {name!r}")

    def set_link(
        self,
        name: str,
        up: bool,
        cause: str = "",
        offset: float | None = None,
        mode: Mode = "carrier",
    ) -> LinkEvent:
        key, ends = self._link(name)
        check_mode(mode)
        switch_ends = [i for i in ends if i != "-"]
        silenced = [i for i in switch_ends if _silenced(i)]
        # a cable is pulled in its middle (testbed.cable); a plain link at its switch ends
        pull = [i for i in self.rec.cables.get(key, ends) if i != "-"]
        if up:
            for intf in silenced:  # it failed silently: the queues go
                _run(silent_command(intf, False, _shaped(intf)).split())
            for intf in pull:
                _run(["ip", "link", "set", "dev", intf, "up"])
        elif mode == "carrier":
            for intf in pull:
                _run(["ip", "link", "set", "dev", intf, "down"])
        else:
            for intf in switch_ends:
                if intf not in silenced:
                    _run(silent_command(intf, True, _shaped(intf)).split())
        a, b = key.split("-", 1)
        ports = self.rec.link_ports.get(key) or tuple(  # older state files: from the names
            int(e.rsplit("-eth", 1)[1]) if e != "-" else 0 for e in ends
        )
        kind = "up" if up else "down"
        return LinkEvent(
            time.time(),
            kind,
            key,
            ((a, ports[0]), (b, ports[1])),
            cause or f"link {key} {kind}",
            offset,
            mode,
        )

    def set_switch(
        self, name: str, up: bool, offset: float | None = None, mode: Mode = "carrier"
    ) -> list[LinkEvent]:
        keys = [k for k in self.rec.links if name in k.split("-", 1)]
        if not keys:
            raise RemoteError(f"run {self.rec.run_id} has no switch {name!r}")
        kind = "up" if up else "down"
        return [self.set_link(k, up, f"switch {name} {kind}", offset, mode) for k in keys]


def _silenced(intf: str) -> bool:
    return f"qdisc pfifo {FAIL_QDISC}" in _run(["tc", "qdisc", "show", "dev", intf])


def _shaped(intf: str) -> bool:
    return is_shaped(_run(["tc", "qdisc", "show", "dev", intf]))


def _run(argv: list[str]) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RemoteError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout
