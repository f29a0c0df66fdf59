"""The topology of an experiment: a file (topologies.load) or a generator of topologies/
with its parameters, exactly as `python -m topologies` builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.spec import Experiment, SpecError, TopologyRef, resolve_path
from topologies import generators
from topologies.loader import TopologyError, from_dict, load
from topologies.model import Topology

# generator name -> the parameters it takes (besides the CloudSpec fields)
GENERATORS = ("multicloud", "zoo", "fixed")
_CLOUD_FIELDS = ("leaves", "hosts", "wan_mbit", "cloud_mbit", "store_mbit")


def build_topology(exp: Experiment, base: Path | None = None) -> Topology:
    return topology_from_ref(exp.topology, base)


def topology_from_ref(ref: TopologyRef, base: Path | None = None) -> Topology:
    if ref.file is not None:
        path = resolve_path(ref.file, base)
        try:
            return load(path)
        except TopologyError as e:
            raise SpecError(f"topology.file: {e}") from None
    name = (ref.generator or "").replace("-", "")
    if name not in GENERATORS:
        raise SpecError(
            f"topology.generator: unknown generator {ref.generator!r} "
            f"(known: {', '.join(GENERATORS)})"
        )
    try:
        params = dict(ref.params)
        mtu = params.pop("mtu", None)  # any generator: every link's MTU
        data = _generate(name, params)
        if mtu is not None:
            data["mtu"] = mtu
        return from_dict(data, f"generator {ref.generator}")
    except (TypeError, ValueError) as e:
        raise SpecError(f"topology.params: {e}") from None


def _generate(name: str, params: dict[str, Any]) -> dict[str, Any]:
    if name == "fixed":
        which = params.pop("name", None)
        _no_more(params)
        return generators.fixed(str(which))
    cloud: dict[str, Any] = {k: params.pop(k) for k in _CLOUD_FIELDS if k in params}
    wan = cloud.get("wan_mbit")
    if wan is not None and not isinstance(wan, list):
        cloud["wan_mbit"] = [float(wan)]
    spec = generators.CloudSpec(**cloud)
    core = params.pop("core_mbit", None)
    if name == "multicloud":
        clouds = int(params.pop("clouds", 3))
        _no_more(params)
        return generators.multicloud(clouds, spec, core)
    graph = params.pop("graph", None)
    clouds_at = [str(x) for x in params.pop("clouds_at", [])]
    store_at = params.pop("store_at", None)
    weights = params.pop("weights", "hops")
    _no_more(params)
    if graph is None:
        raise ValueError("zoo needs 'graph' (a bundled name or a GraphML path)")
    return generators.zoo(
        str(graph), clouds_at, None if store_at is None else str(store_at), spec, core, weights
    )


def _no_more(params: dict[str, Any]) -> None:
    if params:
        raise ValueError(f"unknown parameters {sorted(params)}")
