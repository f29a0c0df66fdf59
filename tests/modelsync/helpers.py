"""Shared helpers for the modelsync tests."""

from __future__ import annotations

from pathlib import Path

from modelsync.makemodel import make_model
from modelsync.manifest import Manifest
from modelsync.sender import Sender, SenderConfig
from modelsync.targets import ReceiverSpec


def small_model(tmp: Path, size: int = 300_000, shards: int = 2, seed: int = 0) -> Manifest:
    return make_model(tmp, size, shards, seed=seed)


def chunker(model_dir: Path, m: Manifest, mtu: int = 1500, **kw: object) -> Sender:
    """A Sender used only to build datagrams (control socket on an ephemeral port)."""
    cfg = SenderConfig(
        manifest=m,
        model_dir=model_dir,
        receivers=[ReceiverSpec(name="r1", ip="127.0.0.1", bfr_id=1)],
        technology=str(kw.pop("technology", "unicast")),
        mtu=mtu,
        control_port=0,
        listen_ip="127.0.0.1",
        **kw,  # type: ignore[arg-type]
    )
    return Sender(cfg)


def all_datagrams(s: Sender) -> list[bytes]:
    return [s.datagram(f, c) for f, n in enumerate(s.counts) for c in range(n)]
