"""FRR 8.4 configuration per router, generated from the topology (never written by hand).

One file per daemon (zebra, staticd, ospfd, pimd, bfdd), because each daemon is started with
its own `-f` file. OSPF: area 0 everywhere, router-router links point-to-point with the link
weight as cost, host subnets and the loopback passive. PIM: `ip pim` on every interface
(loopback too: the RP address lives there), IGMP on host-facing interfaces, static RP on the
router next to the model store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pimsm.addressing import Plan, plan
from pimsm.timers import Timers
from topologies.model import Topology

GROUP_RANGE = "239.0.0.0/8"  # the model group 239.1.0.1 lies in it
BFD_PROFILE = "pimfast"
DAEMONS = ("zebra", "staticd", "ospfd", "pimd", "bfdd")


@dataclass(frozen=True)
class RouterConfig:
    router: str
    files: dict[str, str]  # daemon -> configuration text


def _header(router: str) -> list[str]:
    # microsecond log stamps: failure detection is read from the logs (pimsm.events)
    return ["frr defaults traditional", f"hostname {router}", "log timestamp precision 6", "!"]


def with_log_file(text: str, path: Path) -> str:
    """The daemon's file with its log target (the precision above applies to it, not to the
    command line's --log) after the header."""
    head, sep, rest = text.partition("log timestamp precision 6\n")
    if not sep:
        raise ValueError("configuration text lacks the generated header")
    return f"{head}{sep}log file {path} informational\n{rest}"


def zebra_conf(p: Plan, router: str) -> str:
    lines = [*_header(router), "interface lo", f" ip address {p.loopbacks[router]}/32", "!"]
    for itf in p.interfaces[router]:
        lines += [
            f"interface {itf.name}",
            f" description to {itf.peer} ({itf.kind})",
            f" ip address {itf.address}",
            "!",
        ]
    return "\n".join(lines) + "\n"


def staticd_conf(p: Plan, router: str) -> str:
    # the attached hosts' contract addresses (10.0.0.k/32) via their /24 address
    lines = _header(router)
    for h in p.hosts.values():
        if h.router == router:
            lines.insert(-1, f"ip route {h.contract_ip}/32 {h.address.ip}")
    return "\n".join(lines) + "\n"


def ospfd_conf(p: Plan, router: str, t: Timers, bfd: bool) -> str:
    lines = [*_header(router), "interface lo", " ip ospf area 0.0.0.0", " ip ospf passive", "!"]
    for itf in p.interfaces[router]:
        lines += [f"interface {itf.name}", " ip ospf area 0.0.0.0"]
        if itf.kind == "host":
            lines += [" ip ospf passive"]
        else:
            lines += [
                " ip ospf network point-to-point",
                f" ip ospf cost {itf.link.weight}",
                f" ip ospf hello-interval {t.ospf_hello_s}",
                f" ip ospf dead-interval {t.ospf_dead_s}",
            ]
            if bfd:
                lines += [" ip ospf bfd", f" ip ospf bfd profile {BFD_PROFILE}"]
        lines += ["!"]
    lines += [
        "router ospf",
        f" ospf router-id {p.loopbacks[router]}",
        " log-adjacency-changes detail",
        f" timers throttle spf {t.spf_delay_ms} {t.spf_hold_ms} {t.spf_max_hold_ms}",
        f" timers throttle lsa all {t.lsa_throttle_ms}",
        f" timers lsa min-arrival {t.lsa_min_arrival_ms}",
        " redistribute static",
        "!",
    ]
    return "\n".join(lines) + "\n"


def pimd_conf(p: Plan, router: str, t: Timers, bfd: bool) -> str:
    lines = [
        *_header(router),
        f"ip pim rp {p.rp_address} {GROUP_RANGE}",
        f"ip pim join-prune-interval {t.pim_join_prune_s}",
        "!",
        "interface lo",
        " ip pim",
        "!",
    ]
    for itf in p.interfaces[router]:
        lines += [
            f"interface {itf.name}",
            " ip pim",
            f" ip pim hello {t.pim_hello_s} {t.pim_hold_s}",
        ]
        if itf.kind == "host":
            lines += [
                " ip igmp",
                # FRR checks max-response <= 10 x query interval on each command: this order
                # keeps both old and new values consistent.
                f" ip igmp query-max-response-time {t.igmp_max_response_ds}",
                f" ip igmp query-interval {t.igmp_query_s}",
                f" ip igmp last-member-query-interval {t.igmp_last_member_query_ds}",
                f" ip igmp last-member-query-count {t.igmp_last_member_query_count}",
            ]
        elif bfd:
            lines += [" ip pim bfd", f" ip pim bfd profile {BFD_PROFILE}"]
        lines += ["!"]
    return "\n".join(lines) + "\n"


def bfdd_conf(p: Plan, router: str, t: Timers) -> str:
    lines = [
        *_header(router),
        "bfd",
        f" profile {BFD_PROFILE}",
        f"  transmit-interval {t.bfd_tx_ms}",
        f"  receive-interval {t.bfd_rx_ms}",
        f"  detect-multiplier {t.bfd_multiplier}",
        " !",
        "!",
    ]
    return "\n".join(lines) + "\n"


def router_configs(
    topo: Topology, timers: Timers | None = None, bfd: bool = False
) -> dict[str, RouterConfig]:
    """Configuration text for every router of `topo`, keyed by topology switch name."""
    t = timers or Timers()
    p = plan(topo)
    out: dict[str, RouterConfig] = {}
    for s in topo.switches:
        files = {
            "zebra": zebra_conf(p, s.name),
            "staticd": staticd_conf(p, s.name),
            "ospfd": ospfd_conf(p, s.name, t, bfd),
            "pimd": pimd_conf(p, s.name, t, bfd),
        }
        if bfd:
            files["bfdd"] = bfdd_conf(p, s.name, t)
        out[s.name] = RouterConfig(s.name, files)
    return out
