"""modelsync in the emulated hosts of the P4 testbed: the model prepared once, receivers
started in the GPU hosts of a round, the sender in the model-store host (modelsync.launch),
with the addresses and technology arguments of unicast, BIER and SR-P2MP (over MPLS or SRv6).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modelsync.launch import (
    MANIFEST,
    Channel,
    LaunchError,
    ReceiverSet,
    SenderProcess,
    read_json,
    verify_on_disk,
)
from modelsync.launch import start_receivers as launch_receivers
from modelsync.launch import start_sender as launch_sender
from modelsync.makemodel import make_model
from modelsync.manifest import build_manifest, load_manifest, write_manifest
from topologies.model import Topology, switch_port_mac
from wire.technology import Technology


def _popen(net: Any) -> Any:
    return lambda host, argv, **kw: net.host(host).popen(argv, **kw)


def prepare_model(
    size: int | None, shards: int | None, src: Path | None, out: Path, seed: int
) -> Path:
    """A generated model (size, shards) in `out`, or the manifest of an existing directory.
    Returns the directory holding the shards and `modelsync.manifest.json`."""
    if src is not None:
        if not src.is_dir():
            raise LaunchError(f"model.dir {src}: not a directory")
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


def start_receivers(
    net: Any,
    topo: Topology,
    hosts: list[str],
    model: Path,
    sender: str,
    work: Path,
    records: Path,
    deadline: float,
    standby: bool = False,
    channel: Channel | None = None,
) -> ReceiverSet:
    """`modelsync receive` in every host; returns once each says it listens (on `standby`:
    joining only when signalled; `channel`: one of several deliveries at once)."""
    return launch_receivers(
        _popen(net), hosts, model / MANIFEST, str(topo.host(sender).ip), work, records, deadline,
        standby=standby, channel=channel,
        netns=lambda h: int(net.host(h).pid),  # forked, not a new interpreter each
    )  # fmt: skip


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
    channel: Channel | None = None,
) -> SenderProcess:
    """`modelsync send` in the model-store host; BIER needs the receivers' BFR-ids, SR-P2MP
    (MPLS or SRv6) the file the control plane writes the root SID to (make-before-break
    hand-off)."""
    targets = []
    for h in receivers:
        r: dict[str, Any] = {"name": h, "ip": str(topo.host(h).ip)}
        if technology == Technology.BIER:
            if not bfr_ids or h not in bfr_ids:
                raise LaunchError(f"BIER: the control plane gave no BFR-id for {h}")
            r["bfr_id"] = bfr_ids[h]
        targets.append(r)
    extra = ["--mtu", str(topo.path_mtu())]  # frames that fit every link (a reroute included)
    tech = Technology(technology)
    if tech.raw_frames:
        sw, port, _ = topo.host_attachment(source)
        extra += ["--iface", "eth0", "--dst-mac", switch_port_mac(topo.switch(sw).device_id, port)]
    if technology == Technology.BIER:
        extra += ["--bfir-id", "0"]
    if tech.replication_segments:
        if root_sid_file is None or not root_sid_file.is_file():
            raise LaunchError(f"{tech}: the control plane handed no root SID over")
        extra += ["--root-sid-file", str(root_sid_file)]
    return launch_sender(
        _popen(net), source, targets, model, Technology(technology), str(topo.host(source).ip),
        rate_mbit, records, deadline, extra, channel,
    )  # fmt: skip


def remove_received(rx: ReceiverSet) -> None:
    shutil.rmtree(rx.work, ignore_errors=True)


__all__ = [
    "MANIFEST",
    "LaunchError",
    "ReceiverSet",
    "SenderProcess",
    "load_manifest",
    "prepare_model",
    "read_json",
    "remove_received",
    "start_receivers",
    "start_sender",
    "verify_on_disk",
]
