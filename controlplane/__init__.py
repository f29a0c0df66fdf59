"""The SDN controller: computes every technology's forwarding state from the topology and
installs it over P4Runtime (finsy); never imports Mininet or softswitch.

Pure computations (plain dataclasses, no I/O):
- graph.Network(topo, down=frozenset(), require_connected=True): switches, adjacencies with
  ports/MACs, hosts and where they attach; TopologyError on bad input
- paths.compute_routing(net, dests=None) -> Routing: distances and next hops (ties: lowest port)
- unicast.compute_unicast(net) -> UnicastState: per switch, a /32 route per host
- bier.compute_bier(net, bsl=256, max_sets=256, frr=True) -> BierState: BFR-ids, BIFTs
  (F-BM per neighbour, local bits), BIER-FRR backups; BierState.bitstrings(receivers);
  check_disjoint(bift)
- srp2mp.build_instance(net, sender, receivers, labels, groups, instance, algorithm="spt"|
  "steiner", compress_transit=False) -> TreeInstance; LabelAllocator, GroupAllocator
- sr_plan.make_before_break(old, new) -> [Step]: install / handover / delete
- translate.*_entities: state -> P4Runtime entities of p4src/README.md
- desired.compute_desired(net, technology, trees) -> Desired; entities.diff(old, new)

I/O:
- client.Fabric(conns, p4info, device_config): many switches at once (primary election,
  pipeline push, batched writes, reads, packet-in/out); BatchWriteError
- controller.Controller(topo, fabric, technology): install(), set_receivers(),
  on_port_event() (a switch's port went down or up), on_link_event(), state_records(),
  read_records()
- portwatch.PortWatch: every switch's port status over gNMI (carrier, BFD), as PortEvents
- testbed.ControlPlane: the synchronous hook testbed/hooks.py expects
- shell: `python -m controlplane.shell s1` (p4runtime-sh)
"""
