"""Projection to real scale: the flow-level model of every technology over an experiment
description, with bandwidths and model size scaled.

For each technology and round it computes what the emulation measures, in the same results
tables (experiments/results.py): completion time per receiver (max-min fair sharing; a
multicast flow occupies each tree link once), bytes per link and direction, source egress,
control state per switch, the cost of a new receiver set, and the outage after link failures
with the detection and reaction delays of `control:` in the description.

- this module: whole experiments (`project`) and their results folder (`write_projection`);
- `simulator`: one round of one technology (`RoundSimulation`, one method per event kind);
- `mechanisms`: each technology's control plane in the model (state, new-set cost,
  reaction time, stale branches);
- `cli`: `python -m experiments.projection SCENARIO.yaml [--out DIR] [--csv]` prints the table
  users want (minutes to a loaded model per technology, bytes on the WAN).
The frame sizes, paths, structural ideal and auto rate it shares with the runner are
experiments.ideal's; the flow model itself is experiments.flowmodel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.flowmodel import build_net
from experiments.ideal import Wire
from experiments.projection.simulator import Params, project_round
from experiments.results import (
    TABLES,
    Format,
    ResultsWriter,
    environment,
    new_run_dir,
    rows,
    sweep_label,
)
from experiments.schedule import schedule
from experiments.spec import (
    ControlTiming,
    Experiment,
    SpecError,
    expand_sweep,
    resolve_receivers,
    source_host,
)
from experiments.topology_source import build_topology
from topologies.model import Topology


def model_bytes_of(exp: Experiment, base: Path | None = None) -> int:
    if exp.projection.model_size is not None:
        return exp.projection.model_size
    if exp.model.size is not None:
        return exp.model.size
    d = exp.model.dir
    assert d is not None
    d = d if d.is_absolute() or base is None else base / d
    files = sorted(d.glob("*.safetensors")) if d.is_dir() else []
    if not files:
        raise SpecError(f"model.dir: no *.safetensors files in {d}")
    return sum(f.stat().st_size for f in files)


@dataclass
class Projection:
    """The projected tables of one experiment (all sweep values, technologies, rounds)."""

    experiment: Experiment
    tables: dict[str, pd.DataFrame]
    topologies: dict[Any, Topology]

    def topology(self, label: str) -> Topology:
        """The topology of a sweep value given as its label in the tables."""
        for v, t in self.topologies.items():
            if sweep_label(v) == label:
                return t
        raise KeyError(f"no topology for sweep value {label!r}")


def project(
    exp: Experiment,
    base: Path | None = None,
    scale: bool = True,
    topology: Callable[[Any], Topology] | None = None,
    timing: Mapping[str, ControlTiming] | None = None,
    rates: Mapping[tuple[str, str, int], float] | None = None,
) -> Projection:
    """Project every sweep value, technology and round of an experiment (one repetition: the
    model is deterministic). `scale=False` ignores the description's `projection:` block, for
    the prediction stored beside an emulated measurement. `topology(sweep_value)` supplies the
    topologies (default: built from the description); `timing` replaces the description's
    `control:` delays per technology (e.g. as measured: experiments.validation.measured_timing);
    `rates` the sending rate (Mbit/s) per (sweep label, technology, round), e.g. the one the
    emulation's sender was given (below the links' when the machine's CPU chose it)."""
    collected: dict[str, list[dict]] = {}
    topos: dict[Any, Topology] = {}
    for value, e in expand_sweep(exp):
        topo = topology(value) if topology else build_topology(e, base)
        topos[value] = topo
        given = None if e.sending_rate_mbit == "auto" else float(e.sending_rate_mbit)
        if scale:
            bw_scale = e.projection.bandwidth_scale
            rate = e.projection.sending_rate_mbit or (given and given * bw_scale)
            mbytes = model_bytes_of(e, base)
        else:
            bw_scale, rate = 1.0, given
            mbytes = e.model.size if e.model.size is not None else model_bytes_of(e, base)
        net = build_net(topo, bw_scale)
        src = source_host(e, topo)
        for tech in e.technologies:
            # `timing`: control costs measured by the emulation, in place of the description's
            ctl = (timing or {}).get(tech, e.control)
            params = Params(mbytes, None if rate is None else rate * 1e6, ctl, Wire.of(topo))
            prev = None
            for k in range(len(e.rounds)):
                if e.rounds[k].deliveries:
                    continue  # several models at once: not modelled (experiments README)
                receivers = resolve_receivers(e, topo, k)
                given_k = (rates or {}).get((sweep_label(value), tech, k))
                p_k = params if given_k is None else replace(params, rate_bps=given_k * 1e6)
                keys = {
                    "sweep": sweep_label(value),
                    "technology": tech,
                    "repetition": 0,
                    "round": k,
                }
                got, prev = project_round(
                    net, tech, src, receivers, schedule(e, topo, k), p_k, keys, prev
                )
                for t, rs in got.items():
                    collected.setdefault(t, []).extend(rs)
    tables = {t: rows(t, collected.get(t, [])) for t in TABLES}  # every table, empty ones too
    return Projection(exp, tables, topos)


def write_projection(
    proj: Projection, path: str | Path, fmt: Format = "parquet", new_dir: bool = True
) -> Path:
    """Write a projection as a results folder (environment kind 'projection'). With `new_dir`
    the folder is <path>/<time>-<name>/, else `path` itself."""
    out = new_run_dir(path, proj.experiment.name) if new_dir else Path(path)
    env = environment(
        "projection",
        "flow model",
        {"note": "predicted by experiments.projection (flow model); nothing here was measured"},
    )
    w = ResultsWriter.create(out, proj.experiment, env, fmt)
    for value, topo in proj.topologies.items():
        w.write_topology(topo, value)
    for table, df in proj.tables.items():
        w.add(table, df)
    w.flush()
    return out
