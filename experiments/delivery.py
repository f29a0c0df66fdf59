"""modelsync in the emulated hosts: the model prepared once, receivers started in the GPU hosts
of a round, the sender in the model-store host, their JSON records collected.

Same command lines as the end-to-end test of modelsync (tests/modelsync/test_e2e_testbed.py):
`python -m modelsync receive|send` run with `host.popen` inside the Mininet hosts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelsync.makemodel import make_model
from modelsync.manifest import Manifest, build_manifest, load_manifest, sha256_file, write_manifest
from topologies.model import Topology, switch_port_mac

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "modelsync.manifest.json"
TECH_ARG = {"unicast": "unicast", "bier": "bier", "sr-p2mp": "sr-p2mp"}


class DeliveryError(RuntimeError):
    pass


def prepare_model(
    size: int | None, shards: int | None, src: Path | None, out: Path, seed: int
) -> Path:
    """A generated model (size, shards) in `out`, or the manifest of an existing directory.
    Returns the directory holding the shards and `modelsync.manifest.json`."""
    if src is not None:
        if not src.is_dir():
            raise DeliveryError(f"model.dir {src}: not a directory")
        if not (src / MANIFEST).is_file():
            out.mkdir(parents=True, exist_ok=True)
            m = build_manifest(src)
            write_manifest(m, out / MANIFEST)
            for f in m.files:  # the sender reads the manifest's directory: link the files in
                link = out / f.name
                if not link.exists():
                    link.symlink_to((src / f.name).resolve())
            return out
        return src
    if (out / MANIFEST).is_file():
        return out
    make_model(out, int(size or 0), int(shards or 1), seed=seed)
    return out


@dataclass
class Receivers:
    """The receivers of one round, running in their hosts."""

    hosts: list[str]
    work: Path  # received files: work/<host>/
    records: Path  # records and logs: records/<host>.json, <host>.log
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)

    def kill(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.kill()
                with contextlib.suppress(Exception):
                    p.wait(5)
        for f in self.logs:
            with contextlib.suppress(OSError):
                f.close()


def start_receivers(
    net: Any,
    topo: Topology,
    hosts: list[str],
    model: Path,
    sender: str,
    work: Path,
    records: Path,
    deadline: float,
) -> Receivers:
    """`modelsync receive` in every host; returns once each says it listens."""
    work.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    rx = Receivers(hosts, work, records)
    try:
        for h in hosts:
            log = open(records / f"{h}.log", "wb")  # noqa: SIM115 (closed by kill())
            rx.logs.append(log)
            rx.procs[h] = net.host(h).popen(
                [sys.executable, "-m", "modelsync", "receive",
                 "--manifest", str(model / MANIFEST), "--out", str(work / h),
                 "--sender", str(topo.host(sender).ip), "--name", h,
                 "--deadline", f"{deadline:.0f}", "--linger", "2",
                 "--record", str(records / f"{h}.json")],
                cwd=str(REPO), stdout=log, stderr=log,
            )  # fmt: skip
        for h in hosts:
            log = records / f"{h}.log"
            end = time.time() + 60
            while "listening on" not in log.read_text(errors="replace"):
                if rx.procs[h].poll() is not None or time.time() > end:
                    raise DeliveryError(f"receiver {h} did not start:\n{log.read_text()[-1500:]}")
                time.sleep(0.05)
    except BaseException:
        rx.kill()
        raise
    return rx


@dataclass
class Sender:
    proc: subprocess.Popen
    record: Path
    log: Path
    logf: Any

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.logf.close()


def start_sender(
    net: Any,
    topo: Topology,
    source: str,
    receivers: list[str],
    technology: str,
    model: Path,
    rate_mbit: float,
    records: Path,
    deadline: float,
    bfr_ids: dict[str, int] | None = None,
    root_sid_file: Path | None = None,
) -> Sender:
    """`modelsync send` in the model-store host; BIER needs the receivers' BFR-ids, SR-P2MP
    the file the control plane writes the root SID to (make-before-break hand-off)."""
    rx = []
    for h in receivers:
        r: dict[str, Any] = {"name": h, "ip": str(topo.host(h).ip)}
        if technology == "bier":
            if not bfr_ids or h not in bfr_ids:
                raise DeliveryError(f"BIER: the control plane gave no BFR-id for {h}")
            r["bfr_id"] = bfr_ids[h]
        rx.append(r)
    (records / "receivers.json").write_text(json.dumps(rx))
    args = [
        sys.executable, "-m", "modelsync", "send", "--model", str(model),
        "--receivers", str(records / "receivers.json"), "--technology", TECH_ARG[technology],
        "--src-ip", str(topo.host(source).ip), "--rate", f"{rate_mbit:.3f}",
        "--deadline", f"{deadline:.0f}", "--record", str(records / "sender.json"),
        "--no-progress",
    ]  # fmt: skip
    if technology in ("bier", "sr-p2mp"):
        sw, port, _ = topo.host_attachment(source)
        args += ["--iface", "eth0", "--dst-mac", switch_port_mac(topo.switch(sw).device_id, port)]
    if technology == "bier":
        args += ["--bfir-id", "0"]
    if technology == "sr-p2mp":
        if root_sid_file is None or not root_sid_file.is_file():
            raise DeliveryError("SR-P2MP: the control plane handed no root SID over")
        args += ["--root-sid-file", str(root_sid_file)]
    log = records / "sender.log"
    logf = open(log, "wb")  # noqa: SIM115 (closed by kill())
    proc = net.host(source).popen(args, cwd=str(REPO), stdout=logf, stderr=logf)
    return Sender(proc, records / "sender.json", log, logf)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collect(rx: Receivers, timeout: float) -> list[dict[str, Any]]:
    """Wait for the receivers to exit (they linger for FIN), read their records; a receiver
    without a record gets one saying so (outcome incomplete, error)."""
    end = time.time() + timeout
    for p in rx.procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, end - time.time()))
    rx.kill()
    out = []
    for h in rx.hosts:
        rec = read_json(rx.records / f"{h}.json")
        if rec is None:
            tail = (rx.records / f"{h}.log").read_text(errors="replace")[-500:]
            rec = {"receiver": h, "outcome": "incomplete", "error": f"no record; log: {tail}"}
        out.append(rec)
    return out


def verify_on_disk(manifest: Manifest, folder: Path) -> bool:
    """The runner's own check: every file of the manifest in `folder` with its sha256."""
    for f in manifest.files:
        p = folder / f.name
        if not p.is_file() or sha256_file(p) != f.sha256:
            return False
    return True


def remove_received(rx: Receivers) -> None:
    shutil.rmtree(rx.work, ignore_errors=True)


__all__ = [
    "DeliveryError",
    "Receivers",
    "Sender",
    "collect",
    "load_manifest",
    "prepare_model",
    "remove_received",
    "start_receivers",
    "start_sender",
    "verify_on_disk",
]
