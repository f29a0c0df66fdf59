"""PacketIn / PacketOut, registers, indirect counters and the port-status register over
P4Runtime, with the corpus program ref_clone_recirc (controller headers, clone to CPU)."""

from __future__ import annotations

import queue
import time

import grpc
import pytest
from finsy.proto import p4d, p4r

from softswitch.api import Exact
from testbed.port_agent import make_writer
from testsupport import corpus
from testsupport.harness import P4RTClient, Testbed, need_target, target_of, write_error_codes

pytestmark = pytest.mark.root

PROG = "ref_clone_recirc"
REGISTER = "CrIngress.seen"
ETH = bytes.fromhex("00000d0000ff00000d001234")


def info_frame(flags: int, session: int, tag: int) -> bytes:
    return ETH + b"\x88\xb5" + bytes([flags, session, tag]) + bytes(37) + b"tail"


@pytest.fixture(scope="module")
def bed(request: pytest.FixtureRequest):
    target = target_of(request.config)
    need_target(target)
    p4info, blob = corpus.config(target, PROG)
    # softswitch writes the port-status register itself; beside BMv2, which has no such
    # option, testbed.port_agent does (test_port_status_register_follows_carrier)
    extra = ["--port-status-register", REGISTER] if target == "softswitch" else []
    with Testbed(target, ports=[1, 2, 3], cpu_port=255, extra_args=extra) as tb:
        c = tb.client(election_id=3)
        c.set_pipeline(p4info, blob)
        c.write(
            [
                c.insert(
                    c.table_entry(
                        "CrIngress.fwd",
                        {"meta.orig_port": Exact(p)},
                        "CrIngress.set_out",
                        {"port": out},
                    )
                )
                for p, out in ((1, 2), (2, 3), (3, 1))
            ]
        )
        c.write([c.insert(c.clone_session(100, [(255, 0)]))])
        tb.p4info, tb.blob, tb.c = p4info, blob, c
        yield tb
        assert tb.alive(), "the switch died during the tests:\n" + tb.log()[-3000:]


def reg(c: P4RTClient, index: int | None = None) -> list[int]:
    re = p4r.RegisterEntry(register_id=c.index.registers_by_name[REGISTER].id)
    if index is not None:
        re.index.index = index
    return [
        int.from_bytes(e.register_entry.data.bitstring, "big")
        for e in c.read(p4r.Entity(register_entry=re))
    ]


def bmv2_reg(bed: Testbed, index: int | None = None) -> list[int]:
    """BMv2: the register over its Thrift server (its P4Runtime server reads no registers)."""
    cells = bed.register_read(REGISTER)
    return cells if index is None else [cells[index]]


def no_stream_error(c: P4RTClient) -> bool:
    try:
        c.stream_errors.get(timeout=2)
    except queue.Empty:
        return True
    return False


def test_packet_out_leaves_on_the_given_port(bed: Testbed) -> None:
    payload = ETH + b"\x08\x00" + bytes(range(40))
    bed.drain()
    bed.c.packet_out(payload, {"egress_port": 3})
    bed.expect({3: [payload]})


def test_packet_out_from_backup_is_refused(bed: Testbed) -> None:
    backup = P4RTClient(bed.addr, bed.device_id, election_id=1)
    try:
        backup.index = bed.c.index
        bed.drain()
        backup.packet_out(ETH + b"\x08\x00" + bytes(40), {"egress_port": 3})
        if bed.target == "bmv2":
            # BMv2's server (PI) drops a backup's PacketOut without a StreamError
            assert no_stream_error(backup)
        else:
            err = backup.stream_errors.get(timeout=5)
            assert err.canonical_code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        bed.expect({})
    finally:
        backup.close()


def test_packet_out_with_too_wide_metadata_is_an_error(bed: Testbed) -> None:
    m = p4r.PacketOut(payload=ETH + b"\x08\x00" + bytes(40))
    m.metadata.add(metadata_id=1, value=b"\x02\x00")  # 512 does not fit bit<9>
    bed.drain()
    bed.c.send_packet_out(m)
    if bed.target == "bmv2":
        # BMv2's server (PI) drops it without a StreamError
        assert no_stream_error(bed.c)
    else:
        err = bed.c.stream_errors.get(timeout=5)
        assert err.canonical_code == grpc.StatusCode.OUT_OF_RANGE.value[0]
        assert err.packet_out.packet_out == m
    bed.expect({})


def test_clone_to_cpu_arrives_as_packet_in(bed: Testbed) -> None:
    frame = info_frame(flags=4, session=100, tag=5)
    bed.drain()
    bed.send(1, frame)
    pi = bed.c.packet_in(timeout=5)
    md = {m.metadata_id: int.from_bytes(m.value, "big") for m in pi.metadata}
    # ingress_port 0 in the clone's egress, orig_port 1 preserved, tag 5, pass 0
    assert md == {1: 0, 2: 0, 3: 1, 4: 5, 5: 0}
    assert pi.payload[:14] == frame[:14] and pi.payload[14:17] == frame[14:17]
    got = bed.collect({2: 1})
    assert list(got) == [2] and len(got[2]) == 1  # the original went on to port 2


def test_register_read_write_and_program_use(bed: Testbed) -> None:
    c = bed.c
    rid = c.index.registers_by_name[REGISTER].id
    w = p4r.RegisterEntry(register_id=rid, data=p4d.P4Data(bitstring=b"\x2a"))
    w.index.index = 6
    if bed.target == "bmv2":
        # BMv2's server (PI) implements no register writes or reads ("Register writes are
        # not supported yet"): the same through its Thrift server, as testbed.port_agent does
        for upd in (c.modify(w), c.insert(w)):
            with pytest.raises(grpc.RpcError) as info:
                c.write([upd])
            assert write_error_codes(info.value) == ["UNIMPLEMENTED"]
        with pytest.raises(grpc.RpcError) as info:
            c.read(p4r.Entity(register_entry=w))
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        make_writer(bed.thrift_port, REGISTER).write({6: 42})
        assert bmv2_reg(bed, 6) == [42]
        bed.drain()
        bed.send(1, info_frame(flags=0, session=0, tag=6))
        out = bed.collect({2: 1})[2][0]
        assert int.from_bytes(out[14 + 22 : 14 + 26], "big") == 43  # info.reg after +1
        assert bmv2_reg(bed, 6) == [43] and len(bmv2_reg(bed)) == 8
        return
    c.write([c.modify(w)])
    assert reg(c, 6) == [42]
    bed.drain()
    bed.send(1, info_frame(flags=0, session=0, tag=6))
    out = bed.collect({2: 1})[2][0]
    assert int.from_bytes(out[14 + 22 : 14 + 26], "big") == 43  # info.reg after +1
    assert reg(c, 6) == [43]
    assert len(reg(c)) == 8  # wildcard index: all cells
    w.index.index = 8
    with pytest.raises(grpc.RpcError) as info:
        c.write([c.modify(w)])
    assert write_error_codes(info.value) == ["OUT_OF_RANGE"]
    w.index.index = 1
    w.data.bitstring = b"\x01\x00\x00\x00\x00"  # 33 bits
    with pytest.raises(grpc.RpcError) as info:
        c.write([c.modify(w)])
    assert write_error_codes(info.value) == ["OUT_OF_RANGE"]
    with pytest.raises(grpc.RpcError) as info:
        c.write([c.insert(w)])
    assert write_error_codes(info.value) == ["INVALID_ARGUMENT"]


def test_indirect_counter_read_and_write(bed: Testbed) -> None:
    c = bed.c
    cid = c.index.counters[next(iter(c.index.counters))].id
    zero = p4r.CounterEntry(counter_id=cid, data=p4r.CounterData(packet_count=0, byte_count=0))
    if bed.target == "bmv2":
        # BMv2's server (PI) writes no indirect counter with the index unset ("Wildcard write
        # is not supported for indirect counters yet"): cell by cell
        with pytest.raises(grpc.RpcError) as info:
            c.write([c.modify(zero)])
        assert write_error_codes(info.value) == ["UNIMPLEMENTED"]
        cells = []
        for i in range(8):
            cells.append(p4r.CounterEntry())
            cells[-1].CopyFrom(zero)
            cells[-1].index.index = i
        c.write([c.modify(cell) for cell in cells])
    else:
        c.write([c.modify(zero)])  # index unset: every cell
    bed.drain()
    for _ in range(2):
        bed.send(3, info_frame(flags=0, session=0, tag=1))
    bed.collect({1: 2})
    q = p4r.CounterEntry(counter_id=cid)
    q.index.index = 3
    got = c.read(p4r.Entity(counter_entry=q))
    assert [e.counter_entry.data.packet_count for e in got] == [2]
    allc = c.read(p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=cid)))
    assert [e.counter_entry.data.packet_count for e in allc] == [0, 0, 0, 2, 0, 0, 0, 0]
    q.data.packet_count = 9
    c.write([c.modify(q)])
    assert c.read(p4r.Entity(counter_entry=q))[0].counter_entry.data.packet_count == 9


def test_port_status_register_follows_carrier(bed: Testbed) -> None:
    """softswitch's --port-status-register; beside BMv2 testbed.port_agent, which writes the
    register over BMv2's Thrift server, where it is read too."""
    c = bed.c
    bmv2 = bed.target == "bmv2"
    read = (lambda i: bmv2_reg(bed, i)) if bmv2 else (lambda i: reg(c, i))

    def wait_for(index: int, value: int) -> None:
        deadline = time.monotonic() + 5
        while read(index) != [value] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read(index) == [value]

    agent = None
    if bmv2:
        make_writer(bed.thrift_port, REGISTER).write({2: 0})
        agent = bed.port_agent(REGISTER)
    else:
        w = p4r.RegisterEntry(
            register_id=c.index.registers_by_name[REGISTER].id,
            data=p4d.P4Data(bitstring=b"\x00"),
        )
        w.index.index = 2
        c.write([c.modify(w)])
    try:
        bed.set_carrier(2, False)
        wait_for(2, 1)
        bed.set_carrier(2, True)
        wait_for(2, 0)
    finally:
        if agent is not None:
            agent.stop()
