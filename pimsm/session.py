"""Drive the probe (pimsm/probe.py) on a running PimNetwork: a sender on the model store,
receivers that join over IGMP, sniffers that see what reaches a host joined or not, and link
failures stamped on the same clock. What the experiment runner and the tests measure with."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from pimsm import probe
from pimsm.measure import read_probe_log
from pimsm.network import FailureMode, PimNetwork
from pimsm.records import LinkEvent, ProbeLog

GROUP = "239.1.0.1"
PORT = 50000


class ProbeSession:
    def __init__(
        self,
        net: PimNetwork,
        sender: str | None = None,
        *,
        rate: float = 100.0,
        size: int = 200,
        group: str = GROUP,
        port: int = PORT,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.net = net
        stores = net.topo.model_stores()
        self.sender = sender or (stores[0].name if stores else None)
        if self.sender is None:
            raise ValueError("no sender given and the topology has no model-store host")
        self.rate, self.size, self.group, self.port = rate, size, group, port
        if net.run_dir is None:
            raise RuntimeError("the network is not started")
        self.dir = net.run_dir / "probe"
        self.dir.mkdir(exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def interval_s(self) -> float:
        return 1.0 / self.rate

    def _start(self, key: str, host: str, role: str, *extra: str) -> Path:
        if key in self.procs and self.procs[key].poll() is None:
            raise RuntimeError(f"{key} is already running")
        path = self.dir / f"{key}.log"
        argv = [sys.executable, probe.__file__, role, "--group", self.group]
        argv += ["--port", str(self.port), "--log", str(path), *extra]
        self.procs[key] = self.net.popen(host, argv, stderr=subprocess.DEVNULL)
        return path

    def start_sender(self) -> None:
        self._start(
            f"send-{self.sender}",
            self.sender,
            "send",
            "--rate",
            str(self.rate),
            "--size",
            str(self.size),
        )

    def join(self, host: str) -> None:
        """Start a receiver on host: it joins the group (IGMP) at once."""
        path = self._start(f"recv-{host}", host, "recv")
        self._wait_line(path, "join")

    def leave(self, host: str) -> None:
        """Stop the receiver on host: it drops the membership (IGMP leave) and exits."""
        self._term(f"recv-{host}")

    def sniff(self, host: str) -> None:
        """Watch host's eth0 for the group's datagrams, whether the host joined or not."""
        path = self._start(f"sniff-{host}", host, "sniff", "--ifname", "eth0")
        self._wait_line(path, "sniff")

    def receiver_log(self, host: str) -> ProbeLog:
        return read_probe_log(host, self.dir / f"recv-{host}.log")

    def sniff_log(self, host: str) -> ProbeLog:
        return read_probe_log(host, self.dir / f"sniff-{host}.log")

    def wait_receiving(self, hosts: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(hosts)
        while pending:
            pending = [h for h in pending if not self.receiver_log(h).arrivals]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"no group data at {pending} after {timeout}s")
            time.sleep(0.1)

    def fail_link(self, a: str, b: str, mode: FailureMode = "silent") -> LinkEvent:
        t = self.net.fail_link(a, b, mode)
        name = self.net._ends(a, b).name
        return LinkEvent(link=name, mode=mode, bfd=self.net.bfd, t_fail=t)

    def restore_link(self, event: LinkEvent) -> LinkEvent:
        a, b = self.net.links[event.link].a, self.net.links[event.link].b
        t = self.net.restore_link(a, b)
        return event.model_copy(update={"t_restore": t})

    def stop(self) -> None:
        for key in list(self.procs):
            self._term(key)

    def _term(self, key: str) -> None:
        p = self.procs.pop(key, None)
        if p is None:
            raise KeyError(f"no probe process {key!r}")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def _wait_line(self, path: Path, event: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if path.exists() and any(
                ln.startswith(event + " ") for ln in path.read_text().splitlines()
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"probe wrote no {event!r} line to {path} in {timeout}s")
            time.sleep(0.05)
