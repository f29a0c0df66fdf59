"""Configuration generation: exact text for a small topology, addressing, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pimsm.addressing import plan
from pimsm.config import router_configs
from pimsm.timers import Timers
from topologies.model import Topology

S1_ZEBRA = """\
frr defaults traditional
hostname s1
log timestamp precision 6
!
interface lo
 ip address 10.255.0.1/32
!
interface eth1
 description to h1 (host)
 ip address 10.100.1.1/24
!
interface eth2
 description to s2 (core)
 ip address 10.254.0.0/31
!
"""

S1_OSPFD_BFD = """\
frr defaults traditional
hostname s1
log timestamp precision 6
!
interface lo
 ip ospf area 0.0.0.0
 ip ospf passive
!
interface eth1
 ip ospf area 0.0.0.0
 ip ospf passive
!
interface eth2
 ip ospf area 0.0.0.0
 ip ospf network point-to-point
 ip ospf cost 3
 ip ospf hello-interval 1
 ip ospf dead-interval 3
 ip ospf bfd
 ip ospf bfd profile pimfast
!
router ospf
 ospf router-id 10.255.0.1
 log-adjacency-changes detail
 timers throttle spf 0 50 500
 timers throttle lsa all 0
 timers lsa min-arrival 0
 redistribute static
!
"""

S2_PIMD_BFD = """\
frr defaults traditional
hostname s2
log timestamp precision 6
!
ip pim rp 10.255.0.1 239.0.0.0/8
ip pim join-prune-interval 5
!
interface lo
 ip pim
!
interface eth1
 ip pim
 ip pim hello 1 4
 ip pim bfd
 ip pim bfd profile pimfast
!
interface eth2
 ip pim
 ip pim hello 1 4
 ip igmp
 ip igmp query-max-response-time 10
 ip igmp query-interval 5
 ip igmp last-member-query-interval 3
 ip igmp last-member-query-count 2
!
"""

S1_BFDD = """\
frr defaults traditional
hostname s1
log timestamp precision 6
!
bfd
 profile pimfast
  transmit-interval 100
  receive-interval 100
  detect-multiplier 3
 !
!
"""


def test_exact_text_for_pair_with_bfd(pair: Topology) -> None:
    c = router_configs(pair, bfd=True)
    assert sorted(c) == ["s1", "s2"]
    assert c["s1"].files["zebra"] == S1_ZEBRA
    assert c["s1"].files["ospfd"] == S1_OSPFD_BFD
    assert c["s2"].files["pimd"] == S2_PIMD_BFD
    assert c["s1"].files["bfdd"] == S1_BFDD
    assert c["s1"].files["staticd"] == (
        "frr defaults traditional\nhostname s1\nlog timestamp precision 6\n"
        "ip route 10.0.0.1/32 10.100.1.2\n!\n"
    )


def test_without_bfd_no_bfd_lines_and_no_bfdd(pair: Topology) -> None:
    c = router_configs(pair, bfd=False)
    assert "bfdd" not in c["s1"].files
    for files in (c["s1"].files, c["s2"].files):
        assert all("bfd" not in text for text in files.values())
    # the same configuration apart from the BFD lines
    with_bfd = router_configs(pair, bfd=True)["s1"].files["ospfd"]
    assert c["s1"].files["ospfd"] == "".join(
        ln for ln in with_bfd.splitlines(keepends=True) if "bfd" not in ln
    )


def test_timers_reach_the_text(pair: Topology) -> None:
    t = Timers(ospf_hello_s=2, ospf_dead_s=7, pim_join_prune_s=9, spf_max_hold_ms=900)
    c = router_configs(pair, t)["s2"].files
    assert " ip ospf hello-interval 2\n ip ospf dead-interval 7\n" in c["ospfd"]
    assert " timers throttle spf 0 50 900\n" in c["ospfd"]
    assert "ip pim join-prune-interval 9\n" in c["pimd"]


def test_diamond_plan_addresses_costs_and_rp(diamond: Topology) -> None:
    topo = diamond
    p = plan(topo)
    assert p.rp_router == "s1" and str(p.rp_address) == "10.255.0.1"
    assert {r: str(a) for r, a in p.loopbacks.items()} == {
        "s1": "10.255.0.1",
        "s2": "10.255.0.2",
        "s3": "10.255.0.3",
        "s4": "10.255.0.4",
    }
    s4 = [(i.name, str(i.address), i.peer, i.kind) for i in p.interfaces["s4"]]
    assert s4 == [
        ("eth1", "10.254.0.3/31", "s2", "core"),
        ("eth2", "10.254.0.7/31", "s3", "core"),
        ("eth3", "10.100.2.1/24", "h2", "host"),
        ("eth4", "10.100.3.1/24", "h3", "host"),
        ("eth5", "10.100.4.1/24", "h4", "host"),
    ]
    h3 = p.hosts["h3"]
    assert (str(h3.address), str(h3.gateway), h3.router, h3.router_if) == (
        "10.100.3.2/24",
        "10.100.3.1",
        "s4",
        "eth4",
    )
    ospf = router_configs(topo)["s4"].files["ospfd"]
    assert "interface eth1\n ip ospf area 0.0.0.0\n ip ospf network point-to-point\n" in ospf
    assert " ip ospf cost 1\n" in ospf and " ip ospf cost 5\n" in ospf
    # every router gets the same static RP
    for rc in router_configs(topo).values():
        assert "ip pim rp 10.255.0.1 239.0.0.0/8\n" in rc.files["pimd"]


def test_no_model_store_is_a_clear_error(pair_spec: dict) -> None:
    t = pair_spec
    t["hosts"][0]["role"] = "gpu"
    with pytest.raises(ValueError, match="no model-store host"):
        router_configs(Topology.model_validate(t))


def test_bad_device_id_is_a_clear_error(pair_spec: dict) -> None:
    t = pair_spec
    t["switches"][0]["device_id"] = 0
    with pytest.raises(ValueError, match="device_id 0 outside"):
        plan(Topology.model_validate(t))


def test_inconsistent_timers_rejected() -> None:
    with pytest.raises(ValueError, match="ospf_dead_s"):
        Timers(ospf_hello_s=3, ospf_dead_s=3)
    with pytest.raises(ValueError, match="igmp_max_response_ds"):
        Timers(igmp_query_s=1, igmp_max_response_ds=20)


@pytest.mark.frr
def test_frr_accepts_every_generated_file(tmp_path, diamond: Topology) -> None:
    """FRR's own dry run (-C) parses each daemon's file without a failed line."""
    import os
    import pwd

    frr = pwd.getpwnam("frr")
    os.chown(tmp_path, frr.pw_uid, frr.pw_gid)
    for router, rc in router_configs(diamond, bfd=True).items():
        for daemon, text in rc.files.items():
            f = tmp_path / f"{router}-{daemon}.conf"
            f.write_text(text)
            os.chown(f, frr.pw_uid, frr.pw_gid)
            r = subprocess.run(
                [f"/usr/lib/frr/{daemon}", "-C", "-f", str(f), "--log", "stdout"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            out = r.stdout + r.stderr
            assert r.returncode == 0, out
            bad = [ln for ln in out.splitlines() if "config line" in ln or "% " in ln]
            assert bad == [], f"{router}/{daemon}: {bad}"


def test_cli_config_writes_every_router(tmp_path) -> None:
    from pimsm.__main__ import main

    diamond_yaml = Path(__file__).resolve().parents[2] / "topologies" / "fixed" / "diamond.yaml"
    assert main(["config", str(diamond_yaml), "--out", str(tmp_path), "--bfd"]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.conf"))
    daemons = ["bfdd", "ospfd", "pimd", "staticd", "zebra"]
    assert written == [f"{r}/{d}.conf" for r in ("s1", "s2", "s3", "s4") for d in daemons]
    # h4 hangs off s2 in the bundled diamond: IGMP there, and its contract address routed
    assert (
        "interface eth1\n ip pim\n ip pim hello 1 4\n ip igmp\n"
        in (tmp_path / "s2" / "pimd.conf").read_text()
    )
    assert "ip route 10.0.0.4/32 10.100.4.2\n" in (tmp_path / "s2" / "staticd.conf").read_text()


def test_cli_bad_topology_names_the_file(tmp_path) -> None:
    from pimsm.__main__ import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nswitches: []\nhosts: []\nlinks: [{a: s1, b: s2, bw_mbit: 1}]\n")
    with pytest.raises(SystemExit, match=r"bad\.yaml"):
        main(["config", str(bad), "--out", str(tmp_path / "out")])


def test_delays_are_refused_unless_ignored(pair_spec: dict) -> None:
    from pimsm.network import PimNetError, PimNetwork

    pair_spec["links"][1]["delay_ms"] = 5
    topo = Topology.model_validate(pair_spec)
    with pytest.raises(PimNetError, match="no netem"):
        PimNetwork(topo)
    assert PimNetwork(topo, delay="ignore").topo is topo  # nothing started yet
