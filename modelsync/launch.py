"""Run modelsync in emulated hosts: receivers in the GPU hosts, the sender in the model-store
host, and their JSON records read back afterwards.

One launcher for every network that can start a process in a host (`popen(host, argv, **kw)`):
the P4 testbed (Mininet hosts) and the PIM-SM network (FRR routers' hosts) differ only in the
addresses and the technology arguments they pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modelsync.manifest import Manifest, load_manifest, sha256_file
from modelsync.store import seed

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "modelsync.manifest.json"
# The sender stands in for a host of its own: on a machine shared with the switches, the
# controller's reaction to a failure (and other work) kept it from sending for 10-50 ms at
# the very moment of a failure, so the network's outage went untested. It sleeps between
# paced datagrams and takes only what its rate needs.
SENDER_NICE = -10
FIRST_PASS = "first pass:"  # the sender logs this right before its first data frame
READY = "listening on"  # a receiver logs this once its socket is bound (and joined)
# A receiver that is done waits this long for the sender's FIN (which ends it at once): its
# DONE and the sender's POLLs are lost while a link on the way is down, and one gone before
# the link came back left the sender polling nobody until its deadline.
LINGER_S = 10.0
STORE = ".store"  # in a round's folder of received files: one copy of each verified file
MEMBERS = "members.json"  # in a round's records: who receives now (the sender's --members-file)

# popen(host, argv, cwd=..., stdout=..., stderr=...) -> a process running in that host
HostPopen = Callable[..., subprocess.Popen]
HostNetns = Callable[[str], int]  # host -> the pid of a process in its network namespace


@dataclass(frozen=True)
class Channel:
    """One of several deliveries at once (`numbered`): its model, and a data port, control
    port and group of its own, so that a host receives two models and a store sends two."""

    key: str
    model: Path  # the model directory, holding the manifest
    data_port: int
    control_port: int
    group: str

    @classmethod
    def numbered(cls, k: int, key: str, model: Path) -> Channel:
        """Delivery k: data port 50000 + 10 k, control port 50001 + 10 k, group 239.1.0.(1 + k)."""
        if not 0 <= k < 250:
            raise LaunchError(f"delivery {k}: at most 250 deliveries at once")
        return cls(key, model, 50000 + 10 * k, 50001 + 10 * k, f"239.1.0.{1 + k}")


class LaunchError(RuntimeError):
    """A receiver that did not start, or a sender that cannot be started as asked."""


def read_json(path: Path) -> dict[str, Any] | None:
    """A record written by modelsync, or None when it is missing or cut short."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def verify_on_disk(
    manifest: Manifest, folder: Path, hashed: dict[tuple[int, int], str] | None = None
) -> bool:
    """Every file of the manifest is in `folder` with its sha256 (the launcher's own check,
    beside the receiver's record). `hashed`: sha256 per (device, inode) already computed, kept
    across calls, so that files the receivers share through a store (hard links to one copy)
    are hashed once."""
    memo = {} if hashed is None else hashed
    for f in manifest.files:
        p = folder / f.name
        try:
            st = p.stat()
        except OSError:
            return False
        key = (st.st_dev, st.st_ino)
        if not p.is_file() or st.st_size != f.size:
            return False
        if key not in memo:
            memo[key] = sha256_file(p)
        if memo[key] != f.sha256:
            return False
    return True


def first_pass_started(sender_log: Path) -> bool:
    """The sender has begun its first pass: frames seen before it are control traffic."""
    with contextlib.suppress(OSError):
        return FIRST_PASS in sender_log.read_text(errors="replace")
    return False


def wait_first_pass(sender_log: Path, stop: threading.Event, timeout: float = 60.0) -> float | None:
    """Poll `sender_log` every 5 ms until the sender begins its first pass: the wall-clock
    time it was seen, or None after `timeout` or once `stop` is set."""
    end = time.time() + timeout
    while not stop.wait(0.005) and time.time() < end:
        if first_pass_started(sender_log):
            return time.time()
    return None


def _kill(proc: Any) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(5)


@dataclass
class ReceiverSet:
    """The receivers of one round, running in their hosts."""

    hosts: list[str]
    work: Path  # received files: work/<host>/
    records: Path  # records and logs: records/<host>.json, <host>.log
    procs: dict[str, Any] = field(default_factory=dict)  # subprocess.Popen or ForkedProcess
    logs: list[IO[bytes]] = field(default_factory=list)

    def wait(self, timeout: float) -> None:
        """Until every receiver has exited (they linger for the sender's FIN) or `timeout`."""
        end = time.monotonic() + timeout
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, end - time.monotonic()))

    def kill(self) -> None:
        for p in self.procs.values():
            _kill(p)
        for f in self.logs:
            with contextlib.suppress(OSError):
                f.close()

    def read_records(self) -> list[dict[str, Any]]:
        """Every receiver's record, in host order; one without a record gets one saying so
        (outcome incomplete, the tail of its log as the error)."""
        out = []
        for h in self.hosts:
            rec = read_json(self.records / f"{h}.json")
            if rec is None:
                log = (self.records / f"{h}.log").read_text(errors="replace")
                tail = "\n".join(log.splitlines()[-8:])  # whole lines, never cut
                rec = {"receiver": h, "outcome": "incomplete", "error": f"no record; log: {tail}"}
            out.append(rec)
        return out

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        """Wait for the receivers, stop any left, read their records."""
        self.wait(timeout)
        self.kill()
        return self.read_records()


def start_receivers(
    popen: HostPopen,
    hosts: list[str],
    manifest: Path,
    sender_ip: str,
    work: Path,
    records: Path,
    deadline: float,
    group: str | None = None,
    ready_timeout: float = 60.0,
    standby: bool = False,
    channel: Channel | None = None,
    source_specific: bool = False,
    netns: HostNetns | None = None,
) -> ReceiverSet:
    """`modelsync receive` in every host (joining `group` if given); returns once each one
    listens, or stops them all and raises LaunchError with the failing one's log. `standby`:
    they listen but join only when signalled (receivers joining while the model flows).
    `channel`: one of several deliveries at once (its ports and group). `source_specific`:
    they join the group for `sender_ip` only (PIM-SSM). With `netns` (host -> a process in
    its network namespace) the receivers are forked from a process that has modelsync
    imported (modelsync.forkstart: root), else each is a new interpreter started by `popen`."""
    work.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    # the model-store host's files (checked) in the store: what the receivers hash as it
    # arrives is not written a second time (modelsync.store). A manifest that does not read
    # is left to the receivers, whose logs say what is wrong with it.
    with contextlib.suppress(ValueError):
        seed(work / STORE, manifest.parent, load_manifest(manifest))
    rx = ReceiverSet(list(hosts), work, records)
    try:
        for h in hosts:
            log = open(records / f"{h}.log", "wb")  # noqa: SIM115 (closed by kill())
            rx.logs.append(log)
            argv = [
                "receive",
                "--manifest", str(manifest), "--out", str(work / h),
                "--sender", sender_ip, "--name", h,
                "--deadline", f"{deadline:.0f}", "--linger", f"{LINGER_S:g}",
                "--record", str(records / f"{h}.json"), "--store", str(work / STORE),
            ]  # fmt: skip
            if channel is not None:
                argv += ["--port", str(channel.data_port), "--sender-port",
                         str(channel.control_port), "--group", channel.group]  # fmt: skip
            elif group is not None:
                argv += ["--group", group]
            if standby:
                argv += ["--standby"]
            if source_specific:
                argv += ["--source-specific"]
            if netns is not None:
                from modelsync.forkstart import spawn_in_netns

                rx.procs[h] = spawn_in_netns(netns(h), argv, records / f"{h}.log", REPO)
            else:
                cmd = [sys.executable, "-m", "modelsync", *argv]
                rx.procs[h] = popen(h, cmd, cwd=str(REPO), stdout=log, stderr=log)
        for h in hosts:
            log_path = records / f"{h}.log"
            end = time.monotonic() + ready_timeout
            while READY not in log_path.read_text(errors="replace"):
                if rx.procs[h].poll() is not None or time.monotonic() > end:
                    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                    raise LaunchError(f"receiver {h} did not start:\n{tail}")
                time.sleep(0.05)
    except BaseException:
        rx.kill()
        raise
    return rx


@dataclass
class SenderProcess:
    proc: subprocess.Popen
    record: Path
    log: Path
    logf: IO[bytes]

    def kill(self) -> None:
        _kill(self.proc)
        with contextlib.suppress(OSError):
            self.logf.close()


def start_sender(
    popen: HostPopen,
    host: str,
    targets: list[dict[str, Any]],
    model: Path,
    technology: str,
    src_ip: str,
    rate_mbit: float,
    records: Path,
    deadline: float,
    extra: list[str] | None = None,
    channel: Channel | None = None,
) -> SenderProcess:
    """`modelsync send` in `host` to `targets` (name, ip and, for BIER, bfr_id each);
    `extra`: the technology's own arguments (interface, next-hop MAC, group, root SID file).
    The targets go to records/receivers.json, the record to records/sender.json; a members
    file already in `records` (receivers joining and leaving) is the sender's
    --members-file. `channel`: one of several deliveries at once (its ports and group)."""
    records.mkdir(parents=True, exist_ok=True)
    if channel is not None:
        targets = [{"port": channel.data_port, **t} for t in targets]
        extra = [*(extra or []), "--data-port", str(channel.data_port), "--control-port",
                 str(channel.control_port), "--group", channel.group]  # fmt: skip
    (records / "receivers.json").write_text(json.dumps(targets))
    argv = [
        sys.executable, "-m", "modelsync", "send", "--model", str(model),
        "--receivers", str(records / "receivers.json"), "--technology", technology,
        "--src-ip", src_ip, "--rate", f"{rate_mbit:.3f}",
        "--deadline", f"{deadline:.0f}", "--record", str(records / "sender.json"),
        "--no-progress", *(extra or []),
    ]  # fmt: skip
    if (records / MEMBERS).is_file():
        argv += ["--members-file", str(records / MEMBERS)]
    log = records / "sender.log"
    logf = open(log, "wb")  # noqa: SIM115 (closed by kill())
    proc = popen(host, argv, cwd=str(REPO), stdout=logf, stderr=logf)
    if rate_mbit > 0:  # a paced sender only: unpaced, it would take the CPU the switches need
        with contextlib.suppress(OSError):  # not root: as it is
            os.setpriority(os.PRIO_PROCESS, proc.pid, SENDER_NICE)
    return SenderProcess(proc, records / "sender.json", log, logf)
