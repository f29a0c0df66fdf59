"""The `tables` text: values in the form a person reads them, widths from the P4Info; and the
gNMI warning of targets without gNMI kept out of sight."""

from __future__ import annotations

import logging

import finsy as fy
import pytest
from cpf_net import build_programs
from finsy.log import LOGGER as FINSY_LOGGER

import controlplane.client  # noqa: F401  (installs the filter of finsy's gNMI warning)
from controlplane import show
from controlplane.entities import Lpm, McGroup, TableEntry, Ternary


@pytest.fixture(scope="module")
def widths(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], int]:
    d = build_programs(tmp_path_factory.mktemp("cpf-show")) / "softswitch"
    return show.schema_widths(fy.P4Schema(d / "bier.p4info.txtpb", d / "bier.json"))


def test_widths_come_from_the_p4info(widths: dict[tuple[str, str], int]) -> None:
    assert widths[("MyIngress.ipv4_lpm", "hdr.ipv4.dst_addr")] == 32
    assert widths[("MyIngress.ipv4_route", "port")] == 9
    assert widths[("MyIngress.ipv4_route", "dmac")] == 48
    assert widths[("MyEgress.set_src_mac", "mac")] == 48
    assert widths[("MyEgress.nh_neighbor", "fbm")] == 256


def test_route_and_port_mac_entries(widths: dict[tuple[str, str], int]) -> None:
    route = TableEntry(
        "MyIngress.ipv4_lpm",
        (("hdr.ipv4.dst_addr", Lpm(0x0A000002, 32)),),
        "MyIngress.ipv4_route",
        (("port", 12), ("dmac", 0x025E0001000C)),
    )
    assert show.entry(route, widths) == (
        "MyIngress.ipv4_lpm[hdr.ipv4.dst_addr=10.0.0.2/32] -> "
        "MyIngress.ipv4_route(port=12, dmac=02:5e:00:01:00:0c)"
    )
    mac = TableEntry(
        "MyEgress.port_mac",
        (("standard_metadata.egress_port", 3),),
        "MyEgress.set_src_mac",
        (("mac", 0x025E00010003),),
    )
    assert show.entry(mac, widths) == (
        "MyEgress.port_mac[standard_metadata.egress_port=3] -> "
        "MyEgress.set_src_mac(mac=02:5e:00:01:00:03)"
    )


def test_ternary_bitmap_and_priority(widths: dict[tuple[str, str], int]) -> None:
    acl = TableEntry(
        "MyIngress.punt",
        (("hdr.ethernet.ether_type", Ternary(0x0800, 0xFFFF)),
         ("hdr.ipv4.dst_addr", Ternary(0xE0000000, 0xF0000000))),
        "MyIngress.punt_to_cpu",
        priority=10,
    )  # fmt: skip
    assert show.entry(acl, widths) == (
        "MyIngress.punt[hdr.ethernet.ether_type=0x0800&&&0xffff, "
        "hdr.ipv4.dst_addr=224.0.0.0&&&240.0.0.0] priority 10 -> MyIngress.punt_to_cpu()"
    )
    nh = TableEntry(
        "MyEgress.bier_nh",
        (("meta.bier_si", 0), ("standard_metadata.egress_rid", 2)),
        "MyEgress.nh_neighbor",
        (("fbm", 0b1010), ("dmac", 0x025E00020001)),
    )
    assert show.entry(nh, widths) == (
        "MyEgress.bier_nh[meta.bier_si=0, standard_metadata.egress_rid=2] -> "
        "MyEgress.nh_neighbor(fbm=0xa, dmac=02:5e:00:02:00:01)"
    )


def test_tables_text_with_groups(widths: dict[tuple[str, str], int]) -> None:
    text = show.tables("s2", [], [McGroup(1, ((2, 0), (3, 1))), McGroup(2, ())], widths)
    assert text == (
        "s2: 0 entries, 2 multicast groups\n"
        "  multicast group 1: port 2 rid 0, port 3 rid 1\n"
        "  multicast group 2: no copies"
    )


def test_unknown_widths_fall_back_to_decimal() -> None:
    e = TableEntry("T", (("k", 7),), "A", (("p", 300),))
    assert show.entry(e, {}) == "T[k=7] -> A(p=300)"


def test_gnmi_warning_is_filtered_and_other_warnings_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="finsy"):
        FINSY_LOGGER.warning("gNMI is not implemented")
        FINSY_LOGGER.warning("CapabilitiesRequest is not implemented")
    # finsy's adapter puts the switch's name in brackets before the message
    assert [r.getMessage().split("] ", 1)[1] for r in caplog.records] == [
        "CapabilitiesRequest is not implemented"
    ]
