"""The emulating machine's CPU in a round's time.

The flow model (experiments.projection) predicts the time the links allow. On one machine the
emulation is bound by its CPU long before that at scale: every byte a receiver takes costs its
process the copy from the socket, CRC-32, sha256 and the write; every frame that crosses a
link costs the kernel the send, the veth, the node's tc program and the link's shaping; and
the network's own processes (switch agents, BFD sessions, FRR's daemons) take their share all
along. This module predicts the CPU-bound time of a round from costs measured on the machine
(`MachineCosts.fit`, from other results folders' cpu_* columns, experiments.cpu); the round
takes the longer of the two times (validation.compare's `time_s_emulated`).

    costs = MachineCosts.fit(read_results("results/<machine-costs run>"))
    costs.cpu_time_s("bier", receivers=128, received_bytes=128e9, link_frames=3.1e7, nodes=49)
    cpu_times(costs, read_results("results/<run>/prediction"))   # per technology and round
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from experiments.results import Results
from experiments.summary import ROUND as KEYS

CPU_COLUMNS = ["cpu_machine_s", "cpu_softirq_s", "cpu_receivers_s", "cpu_sender_s", "wall_s"]
SIZE_SPREAD = 2.0  # the MB per receiver of the rounds to fit from must differ this much
MIN_FREE_SHARE = 0.1  # of the cores, left to the rounds however much else the fit finds


@dataclass(frozen=True)
class MachineCosts:
    """What one machine's CPU pays for a round's work (seconds of one core)."""

    cores: int
    receiver_s: float  # per receiver and round: fork, join, the load check, the records
    receiver_s_per_mb: float  # per MB (10^6 bytes) a receiver takes in
    frame_s: float  # per frame crossing a link: the sender's send and the softirq work
    # the rest of the machine's work while a round runs, in cores per network node, per
    # technology (the P4 switches with their BFD sessions, or FRR's daemons)
    other_cores_per_node: dict[str, float]

    def cpu_time_s(
        self, tech: str, receivers: float, received_bytes: float, link_frames: float, nodes: int
    ) -> float:
        """Seconds the round's work takes on the cores the network's processes leave."""
        work = (
            receivers * self.receiver_s
            + received_bytes / 1e6 * self.receiver_s_per_mb
            + link_frames * self.frame_s
        )
        other = self.other_cores_per_node
        per_node = other.get(tech, max(other.values(), default=0.0))
        free = max(self.cores - nodes * per_node, MIN_FREE_SHARE * self.cores)
        return work / free

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def fit(cls, *folders: Results) -> MachineCosts:
        """The costs from measured results folders (their rounds' cpu_* columns): the
        receivers' two costs by least squares over the rounds (which needs rounds of more
        than one model size, or receivers per MB, to tell them apart), the frame cost as the
        sender's and the softirq CPU over the frames the links carried, the other work per
        technology as the median of what the machine spent beyond those, per second of a
        round and network node."""
        if not folders:
            raise ValueError("no results folder to fit the machine's costs from")
        parts = []
        for res in folders:
            if res.kind != "measurement":
                raise ValueError(f"{res.path}: the costs need a measurement, not a {res.kind}")
            got = res.tables["rounds"][KEYS + CPU_COLUMNS].merge(round_work(res.tables), on=KEYS)
            got = got.dropna(subset=CPU_COLUMNS)
            nodes = {s: network_nodes(res, s) for s in got["sweep"].unique()}
            got["nodes"] = got["sweep"].map(nodes)
            parts.append(got)
        rounds = pd.concat(parts, ignore_index=True)
        if rounds.empty:
            raise ValueError("no round with the cpu_* columns (experiments.cpu) to fit from")
        a = np.column_stack(
            [rounds["n_receivers"].to_numpy(float), rounds["received_bytes"].to_numpy(float) / 1e6]
        )
        per_rx = a[:, 1] / np.maximum(a[:, 0], 1)
        if per_rx.max() < SIZE_SPREAD * per_rx.min():
            raise ValueError(
                "the rounds took about the same MB per receiver: a receiver's fixed and per-MB "
                f"costs cannot be told apart (fit from model sizes {SIZE_SPREAD:g}x apart)"
            )
        b = rounds["cpu_receivers_s"].to_numpy(float)
        (per_receiver, per_mb), *_ = np.linalg.lstsq(a, b, rcond=None)
        forwarding = rounds["cpu_sender_s"] + rounds["cpu_softirq_s"]
        other = (rounds["cpu_machine_s"] - rounds["cpu_receivers_s"] - forwarding).clip(lower=0)
        rounds["other_per_node"] = other / rounds["wall_s"] / rounds["nodes"].clip(lower=1)
        per_tech = rounds.groupby("technology")["other_per_node"].median()
        cores = {int(r.environment.get("machine", {}).get("cpus") or 1) for r in folders}
        if len(cores) > 1:
            raise ValueError(f"the folders come from machines of {sorted(cores)} cores")
        return cls(
            cores=cores.pop(),
            receiver_s=max(0.0, float(per_receiver)),
            receiver_s_per_mb=max(0.0, float(per_mb)),
            frame_s=float(forwarding.sum() / rounds["link_frames"].astype(float).sum()),
            other_cores_per_node={str(t): float(v) for t, v in per_tech.items()},
        )


def network_nodes(res: Results, sweep: str = "") -> int:
    """Switches or routers of the folder's topology for a sweep label (each node runs its
    own processes: the switch and its BFD sessions, or FRR's daemons)."""
    return len(res.topology(sweep or None).switches)


def round_work(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per round (KEYS): the receivers, the bytes they took in and the frames the links
    carried, from a folder's receivers and links tables (measured or predicted)."""
    rx = (
        tables["receivers"]
        .groupby(KEYS)
        .agg(n_receivers=("receiver", "nunique"), received_bytes=("bytes_received", "sum"))
    )
    frames = tables["links"].groupby(KEYS)["packets"].sum().rename("link_frames")
    return rx.join(frames, how="inner").reset_index()


def cpu_times(costs: MachineCosts, res: Results) -> pd.DataFrame:
    """Per (sweep, technology, round), averaged over repetitions: the CPU-bound time
    (`time_s_cpu`) of the work in a folder's tables (a prediction's, usually)."""
    work = round_work(res.tables)
    nodes = {s: network_nodes(res, s) for s in work["sweep"].unique()}
    work["time_s_cpu"] = [
        costs.cpu_time_s(
            r.technology, r.n_receivers, r.received_bytes, r.link_frames, nodes[r.sweep]
        )
        for r in work.itertuples()
    ]
    return work.groupby(["sweep", "technology", "round"])[["time_s_cpu"]].mean()
