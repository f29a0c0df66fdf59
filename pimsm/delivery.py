"""modelsync in the hosts of a running PimNetwork: receivers that join the group over IGMP
through their ordinary UDP socket, and the sender with `--technology ip-multicast` (one UDP
copy to the group; repairs by unicast). Addresses are the routed host addresses
(`PimNetwork.host_ip`): the multicast source is the store's routed address, so RPF at every
router follows OSPF to the store's subnet.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pimsm.network import PimNetwork

REPO = Path(__file__).resolve().parents[1]
GROUP = "239.1.0.1"  # inside the static RP's 239.0.0.0/8


class PimDeliveryError(RuntimeError):
    pass


@dataclass
class RunningReceivers:
    hosts: list[str]
    work: Path  # work/<host>/: the received files
    records: Path  # records/<host>.json and <host>.log
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def wait(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, end - time.monotonic()))

    def kill(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        p.kill()
                    with contextlib.suppress(Exception):
                        p.wait(3)
        for f in self.logs:
            with contextlib.suppress(OSError):
                f.close()

    def records_read(self) -> list[dict[str, Any]]:
        """Every receiver's record; one without a record gets one saying why (log tail)."""
        out = []
        for h in self.hosts:
            rec = read_json(self.records / f"{h}.json")
            if rec is None:
                tail = (self.records / f"{h}.log").read_text(errors="replace")[-500:]
                rec = {"receiver": h, "outcome": "incomplete", "error": f"no record; log: {tail}"}
            out.append(rec)
        return out


def start_receivers(
    net: PimNetwork,
    hosts: list[str],
    manifest: Path,
    source: str,
    work: Path,
    records: Path,
    deadline: float,
    group: str = GROUP,
) -> RunningReceivers:
    """`modelsync receive` in every host (joins `group` at once); returns when each listens."""
    work.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    rx = RunningReceivers(list(hosts), work, records)
    try:
        for h in hosts:
            log = open(records / f"{h}.log", "wb")  # noqa: SIM115 (closed by kill())
            rx.logs.append(log)
            rx.procs[h] = net.popen(
                h,
                [sys.executable, "-m", "modelsync", "receive",
                 "--manifest", str(manifest), "--out", str(work / h),
                 "--sender", net.host_ip(source), "--name", h, "--group", group,
                 "--deadline", f"{deadline:.0f}", "--linger", "2",
                 "--record", str(records / f"{h}.json")],
                cwd=str(REPO), stdout=log, stderr=log,
            )  # fmt: skip
        for h in hosts:
            log_path = records / f"{h}.log"
            end = time.monotonic() + 60
            while "listening on" not in log_path.read_text(errors="replace"):
                if rx.procs[h].poll() is not None or time.monotonic() > end:
                    raise PimDeliveryError(
                        f"receiver {h} did not start:\n{log_path.read_text()[-1500:]}"
                    )
                time.sleep(0.05)
    except BaseException:
        rx.kill()
        raise
    return rx


@dataclass
class RunningSender:
    proc: subprocess.Popen
    record: Path
    log: Path
    logf: IO[bytes]

    def first_pass_started(self) -> bool:
        """modelsync logs 'first pass:' right before its first data datagram."""
        with contextlib.suppress(OSError):
            return "first pass:" in self.log.read_text(errors="replace")
        return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.logf.close()


def start_sender(
    net: PimNetwork,
    source: str,
    receivers: list[str],
    model: Path,
    rate_mbit: float,
    records: Path,
    deadline: float,
    group: str = GROUP,
) -> RunningSender:
    """`modelsync send --technology ip-multicast` in the model-store host."""
    records.mkdir(parents=True, exist_ok=True)
    targets = [{"name": h, "ip": net.host_ip(h)} for h in receivers]
    (records / "receivers.json").write_text(json.dumps(targets))
    args = [
        sys.executable, "-m", "modelsync", "send", "--model", str(model),
        "--receivers", str(records / "receivers.json"), "--technology", "ip-multicast",
        "--src-ip", net.host_ip(source), "--group", group, "--rate", f"{rate_mbit:.3f}",
        "--deadline", f"{deadline:.0f}", "--record", str(records / "sender.json"),
        "--no-progress",
    ]  # fmt: skip
    log = records / "sender.log"
    logf = open(log, "wb")  # noqa: SIM115 (closed by kill())
    proc = net.popen(source, args, cwd=str(REPO), stdout=logf, stderr=logf)
    return RunningSender(proc, records / "sender.json", log, logf)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
