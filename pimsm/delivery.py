"""modelsync in the hosts of a running PimNetwork: receivers that join the group over IGMP
through their ordinary UDP socket, and the sender with `--technology pim-sm` (one UDP
copy to the group; repairs by unicast). Addresses are the routed host addresses
(`PimNetwork.host_ip`): the multicast source is the store's routed address, so RPF at every
router follows OSPF to the store's subnet. The processes themselves: modelsync.launch.

PIM-SSM (`ssm=True`): the group lies in 232.0.0.0/8, pimd's default SSM range (RFC 4607),
the receivers join it for the store's address only (IGMPv3 INCLUDE {source}) and every
router joins (S,G) towards the source at once: no RP, no (*,G), no register.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from modelsync.launch import Channel, ReceiverSet, SenderProcess
from modelsync.launch import start_receivers as launch_receivers
from modelsync.launch import start_sender as launch_sender
from pimsm.network import PimNetwork
from wire.technology import Technology

GROUP = "239.1.0.1"  # inside the static RP's 239.0.0.0/8
SSM_GROUP = "232.1.0.1"  # inside pimd's default SSM range 232.0.0.0/8


def ssm_group(group: str) -> str:
    """The SSM group of a delivery: its any-source group's last three bytes under 232/8."""
    return "232." + group.split(".", 1)[1]


def _channel(channel: Channel | None, ssm: bool) -> Channel | None:
    if channel is None or not ssm:
        return channel
    return dataclasses.replace(channel, group=ssm_group(channel.group))


def start_receivers(
    net: PimNetwork,
    hosts: list[str],
    manifest: Path,
    source: str,
    work: Path,
    records: Path,
    deadline: float,
    group: str | None = None,
    standby: bool = False,
    channel: Channel | None = None,
    ssm: bool = False,
) -> ReceiverSet:
    """`modelsync receive` in every host (joins `group` at once, or on `standby` when
    signalled); returns when each listens. `ssm`: the SSM group (`group` None: SSM_GROUP),
    joined for the source's address only."""
    if group is None:
        group = SSM_GROUP if ssm else GROUP
    return launch_receivers(
        net.popen, hosts, manifest, net.host_ip(source), work, records, deadline, group=group,
        standby=standby, channel=_channel(channel, ssm), source_specific=ssm,
        netns=net.node_pid,  # forked, not a new interpreter each
    )  # fmt: skip


def start_sender(
    net: PimNetwork,
    source: str,
    receivers: list[str],
    model: Path,
    rate_mbit: float,
    records: Path,
    deadline: float,
    group: str | None = None,
    channel: Channel | None = None,
    ssm: bool = False,
) -> SenderProcess:
    """`modelsync send --technology pim-sm` (one UDP copy to the group) in the model-store
    host; `channel`: one of several deliveries at once (its group, inside the static RP's
    239.0.0.0/8, and ports). `ssm`: `--technology pim-ssm` to the SSM group (`group` None:
    SSM_GROUP; a channel's group moved under 232/8)."""
    if group is None:
        group = SSM_GROUP if ssm else GROUP
    tech = Technology.PIM_SSM if ssm else Technology.PIM_SM
    targets = [{"name": h, "ip": net.host_ip(h)} for h in receivers]
    return launch_sender(
        net.popen, source, targets, model, tech, net.host_ip(source), rate_mbit, records,
        deadline, ["--group", group, "--mtu", str(net.topo.path_mtu())], _channel(channel, ssm),
    )  # fmt: skip
