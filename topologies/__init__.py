"""Topology descriptions as data: the typed model, the YAML loader and the generators."""

from topologies.loader import TopologyError, dump, from_dict, load, loads
from topologies.model import Host, Link, Switch, Topology, switch_port_mac

__all__ = [
    "Host",
    "Link",
    "Switch",
    "Topology",
    "TopologyError",
    "dump",
    "from_dict",
    "load",
    "loads",
    "switch_port_mac",
]
