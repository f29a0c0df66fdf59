"""802.1Q tags over real veths. The kernel takes a received frame's VLAN tag out of the bytes
an AF_PACKET socket reads (it travels in PACKET_AUXDATA); softswitch's ports and the harness
put it back, as libpcap does for BMv2. Frames here carry a customer tag, an 802.1ad outer tag
with an inner one (only the outer leaves the bytes), and a priority tag (VID 0)."""

from __future__ import annotations

import queue
import struct
import threading
from pathlib import Path

import pytest

from softswitch.api import Exact
from softswitch.ports import PortSet
from testsupport.harness import Testbed, need_target, program_config, target_of

pytestmark = pytest.mark.root

DST, SRC = bytes.fromhex("020000000002"), bytes.fromhex("020000000001")
PAYLOAD = b"tagged frame over a veth " * 3


def tagged(*tags: tuple[int, int], ethertype: int = 0x88B5) -> bytes:
    """A frame with the given (TPID, TCI) tags, outermost first."""
    head = DST + SRC + b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in tags)
    return head + struct.pack("!H", ethertype) + PAYLOAD


FRAMES = [
    tagged((0x8100, 0x2064)),  # PCP 1, VID 100
    tagged((0x88A8, 0x0FFE), (0x8100, 0x0005)),  # QinQ: S-VID 4094, C-VID 5
    tagged((0x8100, 0xA000)),  # priority tag: PCP 5, VID 0
    tagged(),  # untagged, for contrast
]


def test_tags_kept_through_softswitch_ports_and_the_harness(tmp_path: Path) -> None:
    with Testbed(ports=[1, 2], start=False) as tb:
        got: queue.Queue = queue.Queue()
        ps = PortSet(
            [(n, tb.switch_iface(n)) for n in (1, 2)],
            on_frame=lambda p, f: got.put((p, f)),
            pcap_dir=tmp_path,
        )
        loop = threading.Thread(target=ps.run, daemon=True)
        loop.start()
        try:
            for frame in FRAMES:  # host -> softswitch's port
                tb.send(2, frame)
                assert got.get(timeout=3) == (2, frame)
            for frame in FRAMES:  # softswitch's port -> the harness's host socket
                assert ps.send(1, frame)
            tb.expect({1: FRAMES})
        finally:
            ps.stop()
            loop.join(timeout=3)
            ps.close()
        assert not loop.is_alive()
    pcap = (tmp_path / f"{tb.switch_iface(2)}_in.pcap").read_bytes()
    for frame in FRAMES:
        assert frame in pcap


VLAN_PROGRAM = r"""
#include <core.p4>
#include <v1model.p4>
header ethernet_t { bit<48> dst; bit<48> src; bit<16> type; }
header vlan_t { bit<3> pcp; bit<1> dei; bit<12> vid; bit<16> type; }
struct headers_t { ethernet_t eth; vlan_t vlan; }
struct meta_t { }
parser P(packet_in p, out headers_t h, inout meta_t m, inout standard_metadata_t sm) {
    state start {
        p.extract(h.eth);
        transition select(h.eth.type) { 0x8100: vlan; default: accept; }
    }
    state vlan { p.extract(h.vlan); transition accept; }
}
control V(inout headers_t h, inout meta_t m) { apply { } }
control I(inout headers_t h, inout meta_t m, inout standard_metadata_t sm) {
    action to_port(bit<9> port) { sm.egress_spec = port; }
    action drop() { mark_to_drop(sm); }
    table by_vid {
        key = { h.vlan.vid: exact; }
        actions = { to_port; drop; }
        default_action = drop();
    }
    apply {
        if (h.vlan.isValid()) {
            by_vid.apply();
            h.vlan.pcp = 7;  // the program saw the tag: it rewrites the priority
        } else {
            sm.egress_spec = 3;  // untagged frames go to port 3
        }
    }
}
control E(inout headers_t h, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t h, inout meta_t m) { apply { } }
control D(packet_out p, in headers_t h) { apply { p.emit(h.eth); p.emit(h.vlan); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


@pytest.mark.slow
def test_tagged_frames_through_a_switch(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The tag reaches the P4 parser (the table matches on the VID, the program rewrites the
    PCP) and leaves the switch on the wire, on softswitch and on BMv2 alike."""
    target = target_of(request.config)
    need_target(target)
    src = tmp_path / "vlan.p4"
    src.write_text(VLAN_PROGRAM)
    p4info, blob = program_config(target, src)
    with Testbed(target, ports=[1, 2, 3]) as tb:
        c = tb.client()
        c.set_pipeline(p4info, blob)
        c.write(
            [
                c.insert(
                    c.table_entry("I.by_vid", {"h.vlan.vid": Exact(100)}, "I.to_port", {"port": 2})
                )
            ]
        )
        tb.send(1, tagged((0x8100, 0x2064)))
        tb.send(1, tagged((0x8100, 0x2065)))  # VID 101: no entry, dropped
        tb.send(1, tagged())
        tb.expect({2: [tagged((0x8100, 0xE064))], 3: [tagged()]})
