"""modelsync in the hosts of a running PimNetwork: receivers that join the group over IGMP
through their ordinary UDP socket, and the sender with `--technology pim-sm` (one UDP
copy to the group; repairs by unicast). Addresses are the routed host addresses
(`PimNetwork.host_ip`): the multicast source is the store's routed address, so RPF at every
router follows OSPF to the store's subnet. The processes themselves: modelsync.launch.
"""

from __future__ import annotations

from pathlib import Path

from modelsync.launch import Channel, ReceiverSet, SenderProcess
from modelsync.launch import start_receivers as launch_receivers
from modelsync.launch import start_sender as launch_sender
from pimsm.network import PimNetwork
from wire.technology import Technology

GROUP = "239.1.0.1"  # inside the static RP's 239.0.0.0/8


def start_receivers(
    net: PimNetwork,
    hosts: list[str],
    manifest: Path,
    source: str,
    work: Path,
    records: Path,
    deadline: float,
    group: str = GROUP,
    standby: bool = False,
    channel: Channel | None = None,
) -> ReceiverSet:
    """`modelsync receive` in every host (joins `group` at once, or on `standby` when
    signalled); returns when each listens."""
    return launch_receivers(
        net.popen, hosts, manifest, net.host_ip(source), work, records, deadline, group=group,
        standby=standby, channel=channel,
    )  # fmt: skip


def start_sender(
    net: PimNetwork,
    source: str,
    receivers: list[str],
    model: Path,
    rate_mbit: float,
    records: Path,
    deadline: float,
    group: str = GROUP,
    channel: Channel | None = None,
) -> SenderProcess:
    """`modelsync send --technology pim-sm` (one UDP copy to the group) in the model-store
    host; `channel`: one of several deliveries at once (its group, inside the static RP's
    239.0.0.0/8, and ports)."""
    targets = [{"name": h, "ip": net.host_ip(h)} for h in receivers]
    return launch_sender(
        net.popen, source, targets, model, Technology.PIM_SM, net.host_ip(source), rate_mbit,
        records, deadline, ["--group", group, "--mtu", str(net.topo.path_mtu())], channel,
    )  # fmt: skip
