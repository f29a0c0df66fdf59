"""PIM-SM in an experiment: per round, pimsm's own network (FRR routers, not the P4 switches)
with its probe stream from the model store to the round's receivers, the round's first link
failure applied, and its records turned into rows (`runner.pim_rows`).

What it measures: multicast state per router, the tree build per receiver (the new-set cost),
the outage per receiver after the failure. What it does not: a model delivery (modelsync
does not run over it here), so PIM-SM rounds have no receivers rows and no completion time;
the rounds row says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from experiments.spec import Experiment, LinkDown, link_ends, resolve_receivers
from topologies.model import Topology

NOTE = "pim-sm: FRR routers with pimsm's probe stream, not a model delivery (no receivers rows)"


def available() -> str | None:
    """None when pimsm can run here; else why not."""
    import shutil

    try:
        import pimsm.experiment  # noqa: F401
    except ImportError as e:
        return f"pimsm cannot be imported: {e}"
    if not shutil.which("pimd") and not shutil.which("/usr/lib/frr/pimd"):
        return "FRR's pimd is not installed"
    return None


def round_failure(e: Experiment, topo: Topology, k: int) -> tuple[str, str] | None:
    """The round's first link failure (pimsm applies one, at a moment of its choosing)."""
    for f in e.failures:
        if isinstance(f, LinkDown) and (f.round is None or f.round == k):
            return link_ends(f.link, topo)
    return None


def run_round(
    e: Experiment,
    topo: Topology,
    k: int,
    keys: dict[str, Any],
    say: Callable[[str], None],
) -> dict[str, list[dict[str, Any]]]:
    from experiments.runner import pim_rows
    from pimsm.experiment import run

    receivers = resolve_receivers(e, topo, k)
    fail = round_failure(e, topo, k)
    res = run(topo, receivers=receivers, fail=fail, bfd=True, prefix="exi", delay="ignore")
    rows = pim_rows(res, keys)
    rows["rounds"] = [{**keys, "receivers": len(receivers), "note": NOTE}]
    out = [o for o in res.outages if o.affected]
    say(
        f"pim-sm round {k + 1}: {len(receivers)} receivers joined (probe), "
        + (f"{len(out)} cut by {fail[0]}-{fail[1]}, max outage "
           f"{max((o.outage_s or 0) for o in out):.2f} s" if fail and out else "no failure")
    )  # fmt: skip
    return rows
