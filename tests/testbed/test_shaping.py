"""Link shaping (testbed.shaping), shared by the P4 testbed and the PIM-SM network: the exact
tc commands, rates above 1 Gbit/s configured as given and read back from the kernel, rates
that cannot be shaped refused with the reason before anything is built."""

from __future__ import annotations

import secrets

import pytest

import topologies
from pimsm.network import PimNetError, PimNetwork
from testbed.network import Network, NetworkError
from testbed.shaping import (
    MAX_MBIT,
    HtbClass,
    ShapingError,
    check_rate,
    htb_commands,
    read_htb,
    shaped_link,
    tc_errors,
)
from topologies import generators as gen


@pytest.mark.parametrize(
    ("mbit", "burst"),
    [(20, 15000), (1000, 15000), (2500, 37500), (100_000, 1_500_000), (400_000, 6_000_000)],
)
def test_htb_commands(mbit: float, burst: int) -> None:
    assert htb_commands(mbit, "link s1-s2") == [
        "%s qdisc add dev %s root handle 5:0 htb default 1",
        f"%s class add dev %s parent 5:0 classid 5:1 htb quantum 60000 rate {mbit:.6f}Mbit "
        f"burst {burst} cburst {burst}",
    ]


@pytest.mark.parametrize(
    ("mbit", "message"),
    [
        (0, "link s1-s2: the rate must be above 0 Mbit/s, not 0."),
        (-5, "link s1-s2: the rate must be above 0 Mbit/s, not -5."),
        (float("nan"), "link s1-s2: the rate nan Mbit/s is not a finite number."),
        (float("inf"), "link s1-s2: the rate inf Mbit/s is not a finite number."),
        ("100", "link s1-s2: the rate '100' Mbit/s is not a finite number."),
        (
            3e8,
            "link s1-s2: 3e+08 Mbit/s cannot be shaped: htb's bucket for 120 us at that rate is "
            "4,500,000,000 bytes, above the 4,294,967,295 bytes tc accepts (the limit is "
            "286,331,153 Mbit/s).",
        ),
    ],
)
def test_rates_that_cannot_be_shaped_are_refused_with_the_reason(mbit, message: str) -> None:
    with pytest.raises(ShapingError) as e:
        check_rate(mbit, "link s1-s2")
    assert str(e.value) == message


def test_the_largest_rate_is_accepted() -> None:
    check_rate(MAX_MBIT, "link s1-s2")
    assert htb_commands(MAX_MBIT, "x")[1].endswith("burst 4294967295 cburst 4294967295")


def test_tc_output_is_an_error_but_for_the_interrupted_dump_warning() -> None:
    assert tc_errors(["", "Dump was interrupted and may be inconsistent.\r\n", ""]) == []
    assert tc_errors(
        ["Dump was interrupted and may be inconsistent.\r\nError: Exclusivity flag on.\r\n"]
    ) == ["Error: Exclusivity flag on."]


def _line(bw: float) -> topologies.Topology:
    d = gen.fixed("line")
    d["links"][3]["bw_mbit"] = bw  # s1-s2
    return topologies.from_dict(d)


def test_both_networks_refuse_a_rate_before_building_anything() -> None:
    why = (
        "topology 'line', link s1-s2: 1e+09 Mbit/s cannot be shaped: htb's bucket for 120 us "
        "at that rate is 15,000,000,000 bytes, above the 4,294,967,295 bytes tc accepts (the "
        "limit is 286,331,153 Mbit/s)."
    )
    with pytest.raises(NetworkError) as e:
        Network(_line(1e9), "bridge")
    assert str(e.value) == why
    with pytest.raises(PimNetError) as e2:
        PimNetwork(_line(1e9))
    assert str(e2.value) == why


# --- in the kernel ----------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.mininet
@pytest.mark.parametrize("mbit", [2500, 40_000])
def test_shaped_link_holds_rates_above_1_gbit_in_the_kernel(mbit: float) -> None:
    """A Mininet link with shaped_link() between two nodes; both ends' htb class, read back
    over rtnetlink, has the rate (40 Gbit/s needs the kernel's 64-bit rate attribute)."""
    from mininet.node import Node

    tag = "shp" + secrets.token_hex(3)
    nodes = [Node(f"{tag}{n}", inNamespace=True) for n in "ab"]
    try:
        link = shaped_link()(nodes[0], nodes[1], intfName1="eth1", intfName2="eth2", bw=mbit)
        want = [HtbClass("5:1", int(mbit * 1e6), int(mbit * 1e6), 60000)]
        for node, ifname in ((nodes[0], "eth1"), (nodes[1], "eth2")):
            assert read_htb(ifname, f"/proc/{node.pid}/ns/net") == want
        link.delete()
    finally:
        for node in nodes:
            node.terminate()


@pytest.mark.root
@pytest.mark.mininet
def test_a_tc_refusal_is_an_error_not_a_log_line() -> None:
    """What tc refuses raises ShapingError with tc's words, where Mininet's TCIntf only logs
    them. Here: the interface has gone (its veth pair was deleted) when it is shaped."""
    from mininet.node import Node

    tag = "shp" + secrets.token_hex(3)
    a, b = Node(f"{tag}a", inNamespace=True), Node(f"{tag}b", inNamespace=True)
    try:
        link = shaped_link()(a, b, intfName1="eth1", intfName2="eth2", bw=100)
        a.cmd("ip link del eth1")
        with pytest.raises(ShapingError) as e:
            link.intf1.config(bw=200)
        assert str(e.value).startswith("interface eth1: tc refused the shaping: ")
        assert 'Cannot find device "eth1"' in str(e.value)
    finally:
        a.terminate()
        b.terminate()
