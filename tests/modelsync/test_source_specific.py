"""A receiver's group membership as the kernel holds it: any-source (*,G) by default, and
with `source_specific` (PIM-SSM) INCLUDE {sender} for the group, gone again when it leaves
(/proc/net/igmp and /proc/net/mcfilter on the loopback; no root needed)."""

from __future__ import annotations

import socket
from pathlib import Path

from modelsync.receiver import Receiver, ReceiverConfig

from .helpers import small_model

GROUP, SENDER = "232.7.0.9", "10.100.1.2"


def _hex(ip: str) -> str:
    return "0x" + socket.inet_aton(ip).hex()  # as /proc/net/mcfilter prints addresses


def _filters() -> list[tuple[str, str, str, int, int]]:
    """(device, group, source, include count, exclude count) per source filter."""
    rows = Path("/proc/net/mcfilter").read_text().splitlines()[1:]
    return [(p[1], p[2], p[3], int(p[4]), int(p[5])) for p in (r.split() for r in rows)]


def _receiver(tmp: Path, source_specific: bool) -> Receiver:
    cfg = ReceiverConfig(
        name="r1", manifest=small_model(tmp / "m", 100_000, 1), out_dir=tmp / "out",
        sender_ip=SENDER, port=0, bind="0.0.0.0", group=GROUP, iface_ip="127.0.0.1",
        source_specific=source_specific,
    )  # fmt: skip
    return Receiver(cfg)


def test_a_source_specific_receiver_includes_the_sender_only(tmp_path: Path) -> None:
    rx = _receiver(tmp_path, True)
    try:
        assert rx.joined
        assert ("lo", _hex(GROUP), _hex(SENDER), 1, 0) in _filters()
        rx._leave_now()
        assert not [f for f in _filters() if f[1] == _hex(GROUP)]
    finally:
        rx.sock.close()
        rx.ctl.close()


def test_an_any_source_receiver_has_no_source_filter(tmp_path: Path) -> None:
    rx = _receiver(tmp_path, False)
    try:
        assert rx.joined
        assert not [f for f in _filters() if f[1] == _hex(GROUP)]
        igmp = Path("/proc/net/igmp").read_text()
        # /proc/net/igmp prints the group in host byte order
        assert socket.inet_aton(GROUP)[::-1].hex().upper() in igmp
    finally:
        rx.sock.close()
        rx.ctl.close()
