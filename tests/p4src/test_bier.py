"""bier.p4 in softswitch, in process: one-pass replication, BFER, TTL, BIER-FRR, counters.

Switch under test (p4model.bier_switch): neighbour A on port 1 (BFR-ids 1, 2), B on port 2
(3, 4), C on port 3 (5, 7), local receiver (BFR-id 6) on port 4, the sender on port 5;
A's link is protected by a backup via port 2."""

from __future__ import annotations

import pytest

from tests.p4src import p4model as M

S = M.SENDER_PORT


def _in(b: M.BierSwitch, code: int, port: int = S) -> int:
    return b.sw.counter("MyIngress.in_stats", code * 256 + port)[0]


def _out(b: M.BierSwitch, code: int, port: int) -> int:
    return b.sw.counter("MyEgress.out_stats", code * 256 + port)[0]


def test_receivers_behind_one_neighbour() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([3])
    assert M.run(b.sw, S, sent) == {2: [M.bier_copy(sent, 2, M.NBR_B, [3])]}
    assert _in(b, M.IN_BIER_RX) == 1
    assert _out(b, M.OUT_BIER_FORWARDED, 2) == 1
    assert _out(b, M.OUT_TX, 2) == 1


def test_receivers_behind_several_neighbours() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([1, 4, 3])
    assert M.run(b.sw, S, sent) == {
        1: [M.bier_copy(sent, 1, M.NBR_A, [1])],
        2: [M.bier_copy(sent, 2, M.NBR_B, [3, 4])],
    }


def test_receivers_behind_all_neighbours() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([2, 4, 5, 7])
    assert M.run(b.sw, S, sent) == {
        1: [M.bier_copy(sent, 1, M.NBR_A, [2])],
        2: [M.bier_copy(sent, 2, M.NBR_B, [4])],
        3: [M.bier_copy(sent, 3, M.NBR_C, [5, 7])],
    }
    # the backup of A sits in the same group and is discarded while A's port is up
    assert _out(b, M.OUT_FRR_STANDBY, 2) == 1


def test_own_bit_and_transit_bits() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([6, 5])
    assert M.run(b.sw, S, sent) == {
        3: [M.bier_copy(sent, 3, M.NBR_C, [5])],
        4: [M.decapsulated(sent, 4, M.HOST6)],
    }
    assert _out(b, M.OUT_BIER_DECAP, 4) == 1


def test_own_bit_only() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([6])
    assert M.run(b.sw, S, sent) == {4: [M.decapsulated(sent, 4, M.HOST6)]}


def test_bits_of_nobody_are_dropped_and_counted() -> None:
    b = M.bier_switch()
    assert M.run(b.sw, S, M.bier_frame([200])) == {}
    assert _in(b, M.IN_DROP_NO_BITS) == 1
    assert M.run(b.sw, S, M.bier_frame([])) == {}
    assert _in(b, M.IN_DROP_NO_BITS) == 2


def test_ttl_one_delivers_locally_but_forwards_nothing() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([1, 6], ttl=1)
    assert M.run(b.sw, S, sent) == {4: [M.decapsulated(sent, 4, M.HOST6)]}
    assert _out(b, M.OUT_DROP_TTL, 1) == 1


def test_ttl_zero_is_dropped() -> None:
    b = M.bier_switch()
    assert M.run(b.sw, S, M.bier_frame([1, 6], ttl=0)) == {}
    assert _in(b, M.IN_DROP_TTL) == 1


def test_frr_switch_over_when_the_primary_port_goes_down() -> None:
    b = M.bier_switch()
    sent = M.bier_frame([1, 2, 3])
    before = M.run(b.sw, S, sent)
    assert before == {
        1: [M.bier_copy(sent, 1, M.NBR_A, [1, 2])],
        2: [M.bier_copy(sent, 2, M.NBR_B, [3])],
    }
    b.sw.set_register("MyEgress.port_status", 1, 1)  # what the switch writes on carrier loss
    after = M.run(b.sw, S, sent)
    # A's bits now leave through the backup (port 2, to B) in their own copy
    assert after == {
        2: [M.bier_copy(sent, 2, M.NBR_B, [3]), M.bier_copy(sent, 2, M.NBR_B, [1, 2])]
    } or after == {2: [M.bier_copy(sent, 2, M.NBR_B, [1, 2]), M.bier_copy(sent, 2, M.NBR_B, [3])]}
    assert _out(b, M.OUT_DROP_PORT_DOWN, 1) == 1
    assert _out(b, M.OUT_BIER_FRR, 2) == 1
    b.sw.set_register("MyEgress.port_status", 1, 0)  # carrier back: primary again
    assert M.run(b.sw, S, sent) == before


def test_unknown_bift_id_is_dropped_and_counted() -> None:
    b = M.bier_switch()
    assert M.run(b.sw, S, M.bier_frame([1], bift_id=77)) == {}
    assert _in(b, M.IN_DROP_UNKNOWN_BIFT) == 1


@pytest.mark.parametrize(
    ("offset", "value"),
    [(4, 0x40), (4, 0x51), (5, 0x20)],  # nibble 0100; version 1; BSL code 2 (128)
    ids=["nibble", "version", "bsl"],
)
def test_malformed_header_is_dropped_and_counted(offset: int, value: int) -> None:
    b = M.bier_switch()
    raw = bytearray(bytes(M.bier_frame([1])))
    raw[14 + offset] = value | (raw[14 + offset] & (0x0F if offset == 5 else 0x00))
    assert M.run(b.sw, S, bytes(raw)) == {}
    assert _in(b, M.IN_DROP_BAD_BIER) == 1


def test_second_set_identifier() -> None:
    """BFR-id 257 is SI 1, bit 1: BIFT-id 2 selects SI 1's F-BMs."""
    b = M.bier_switch()
    b.hops = [M.NextHop(3, 3, "neighbor", M.fbm(257), M.NBR_C, slot=0)]
    b.install(si=1, group_base=0)
    sent = M.bier_frame([257], si=1)
    assert M.run(b.sw, S, sent) == {3: [M.bier_copy(sent, 3, M.NBR_C, [257], si=1)]}


def test_slot_shared_by_two_next_hops_still_yields_exact_copies() -> None:
    """More next hops than slots: A and C share slot 0; egress filtering drops the empty one."""
    b = M.BierSwitch(M.switch("bier.p4"), 256)
    b.hops = [
        M.NextHop(1, 1, "neighbor", M.fbm(1, 2), M.NBR_A, slot=0),
        M.NextHop(3, 3, "neighbor", M.fbm(5, 7), M.NBR_C, slot=0),
    ]
    b.install()
    sent = M.bier_frame([7])
    assert M.run(b.sw, S, sent) == {3: [M.bier_copy(sent, 3, M.NBR_C, [7])]}
    assert _out(b, M.OUT_DROP_ZERO_BITS, 1) == 1


@pytest.mark.parametrize("bsl", [64, 128, 512])
def test_other_bitstring_lengths(bsl: int) -> None:
    b = M.bier_switch(bsl)
    sent = M.bier_frame([1, 5, 6], bsl=bsl)
    assert M.run(b.sw, S, sent) == {
        1: [M.bier_copy(sent, 1, M.NBR_A, [1])],
        3: [M.bier_copy(sent, 3, M.NBR_C, [5])],
        4: [M.decapsulated(sent, 4, M.HOST6)],
    }
    # a frame with the default BSL (256) does not fit this program
    assert M.run(b.sw, S, M.bier_frame([1])) == {}


def test_overlapping_fbms_would_duplicate_so_the_controller_keeps_them_disjoint() -> None:
    """The RFC 8279 section 6.5 condition of p4src/README.md is necessary: with BFR-id 3 in
    the F-BMs of both A and B, one-pass replication sends bit 3 twice (RFC 8279 would not)."""
    b = M.BierSwitch(M.switch("bier.p4"), 256)
    b.hops = [
        M.NextHop(1, 1, "neighbor", M.fbm(1, 3), M.NBR_A, slot=0),
        M.NextHop(2, 2, "neighbor", M.fbm(3, 4), M.NBR_B, slot=1),
    ]
    b.install()
    sent = M.bier_frame([3])
    assert M.run(b.sw, S, sent) == {
        1: [M.bier_copy(sent, 1, M.NBR_A, [3])],
        2: [M.bier_copy(sent, 2, M.NBR_B, [3])],
    }


def test_two_local_receivers_each_get_their_own_copy() -> None:
    """An edge BFR with two GPU hosts (BFR-ids 6 on port 4, 8 on port 6)."""
    host8 = M.host_mac(8)
    b = M.BierSwitch(M.switch("bier.p4"), 256)
    b.hops = [*M.default_hops(), M.NextHop(6, 6, "local", M.fbm(8), host8, slot=4)]
    b.install()
    sent = M.bier_frame([6, 8, 4])
    assert M.run(b.sw, S, sent) == {
        2: [M.bier_copy(sent, 2, M.NBR_B, [4])],
        4: [M.decapsulated(sent, 4, M.HOST6)],
        6: [M.decapsulated(sent, 6, host8)],
    }
    assert M.run(b.sw, S, M.bier_frame([8])) == {6: [M.decapsulated(M.bier_frame([8]), 6, host8)]}


def test_two_bfrs_in_a_row_deliver_each_receiver_once() -> None:
    """Sender -> BFR 1 -> (port 2) BFR 2 -> its host 3 on port 4; BFR 1 delivers host 6."""
    b1 = M.bier_switch()
    b2 = M.BierSwitch(M.switch("bier.p4"), 256)
    b2.hops = [M.NextHop(4, 4, "local", M.fbm(3), M.host_mac(3), slot=0)]
    b2.install()
    sent = M.bier_frame([3, 6], ttl=2)
    hop1 = M.run(b1.sw, S, sent)
    assert hop1 == {
        2: [M.bier_copy(sent, 2, M.NBR_B, [3])],
        4: [M.decapsulated(sent, 4, M.HOST6)],
    }
    # BFR 2 gets the copy (TTL 1): its own receiver still gets the inner packet
    hop2 = M.run(b2.sw, 1, hop1[2][0])
    assert hop2 == {4: [M.decapsulated(sent, 4, M.host_mac(3))]}
