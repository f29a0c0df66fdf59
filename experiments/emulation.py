"""The emulating machine's CPU in a round's time.

The flow model (experiments.projection) predicts the time the links allow. On one machine the
emulation is bound by its CPU long before that at scale: every byte a receiver takes costs its
process the copy from the socket, CRC-32, sha256 and the write; every frame that crosses a
link costs the kernel the send, the veth, the node's tc program and the link's shaping; and
the network's own processes (switch agents, BFD sessions, FRR's daemons) take their share all
along. This module predicts the CPU-bound time of a round from costs measured on the machine
(`MachineCosts.fit`, from other results folders' cpu_* columns, experiments.cpu); the round
takes the longer of the two times (validation.compare's `time_s_emulated`).

A round whose receivers lost bytes to a failure ends with the repairs after the first pass,
paced at the round's sending rate: on a CPU-bound machine the first pass is slower than
projected, so a cut of the same length loses fewer bytes, and their repair (`repair_s`) comes
on top of the CPU-bound first pass.

The costs per MB and per frame are not constants: they grow with the receivers that share
the cores (16 to 128 receivers: about 1.25x per MB, 1.5x per frame on this 2-core machine),
and so do the cores a CPU-bound round keeps busy (1.7 to 1.9 of 2). They are measured at
several receiver counts (scenarios/machine-costs.yaml) and interpolated in between on a log
scale (clamped outside the counts measured).

    costs = MachineCosts.fit(read_results("results/<machine-costs run>"))
    costs.cpu_time_s("bier", receivers=128, received_bytes=128e9, link_frames=3.1e7)
    cpu_times(costs, read_results("results/<run>/prediction"))   # per technology and round
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from experiments.results import Results
from experiments.summary import ROUND as KEYS

CPU_COLUMNS = ["cpu_machine_s", "cpu_receivers_s", "wall_s"]
SIZE_SPREAD = 2.0  # the MB per receiver of the rounds to fit from must differ this much


@dataclass(frozen=True)
class LoadCosts:
    """What the machine pays while `receivers` receivers share its cores."""

    receivers: int
    receiver_s_per_mb: float  # per MB (10^6 bytes) a receiver takes in
    # per frame crossing a link, per technology: the machine's CPU beyond the receivers' own
    # (the sender's sends, the kernel's softirq work, the network's processes: switches and
    # their BFD sessions, or FRR's daemons)
    frame_s: dict[str, float]
    busy_share: float  # of the cores, kept busy by a CPU-bound round


@dataclass(frozen=True)
class MachineCosts:
    """What one machine's CPU pays for a round's work (seconds of one core)."""

    cores: int
    receiver_s: float  # per receiver and round: fork, join, the load check, the records
    loads: tuple[LoadCosts, ...]  # by receiver count, ascending

    def at(self, receivers: float) -> LoadCosts:
        """The costs at a receiver count: interpolated on a log scale between the counts
        measured, the nearest one's outside them."""
        xs = np.log([max(c.receivers, 1) for c in self.loads])
        x = float(np.log(max(receivers, 1)))

        def interp(values: list[float]) -> float:
            return float(np.interp(x, xs, values))

        techs = set().union(*(c.frame_s for c in self.loads))
        return LoadCosts(
            receivers=round(receivers),
            receiver_s_per_mb=interp([c.receiver_s_per_mb for c in self.loads]),
            frame_s={t: interp([_frame_s(c, t) for c in self.loads]) for t in sorted(techs)},
            busy_share=interp([c.busy_share for c in self.loads]),
        )

    def cpu_time_s(
        self, tech: str, receivers: float, received_bytes: float, link_frames: float
    ) -> float:
        """Seconds the round's work takes on the cores a CPU-bound round keeps busy."""
        load = self.at(receivers)
        work = (
            receivers * self.receiver_s
            + received_bytes / 1e6 * load.receiver_s_per_mb
            + link_frames * _frame_s(load, tech)
        )
        return work / (self.cores * load.busy_share)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def fit(cls, *folders: Results) -> MachineCosts:
        """The costs from measured results folders (their rounds' cpu_* columns), per receiver
        count of their rounds: a receiver's fixed cost (one for all counts) and its cost per
        MB by least squares over the rounds (which needs, at each count, rounds of model
        sizes SIZE_SPREAD apart to tell the two apart); from the rounds of the larger models,
        per technology the cost of a frame on a link as the machine's CPU beyond the
        receivers' over the frames the links carried, and the cores a CPU-bound round keeps
        busy as the most any of them kept busy."""
        rounds = _calibration_rounds(folders)
        counts = sorted(int(n) for n in rounds["n_receivers"].unique())
        group = rounds["n_receivers"].astype(int).map(counts.index).to_numpy()
        mb = rounds["received_bytes"].to_numpy(float) / 1e6
        per_rx = mb / rounds["n_receivers"].to_numpy(float)
        for i, n in enumerate(counts):
            got = per_rx[group == i]
            if got.max() < SIZE_SPREAD * got.min():
                raise ValueError(
                    f"the rounds to {n} receivers took about the same MB per receiver: a "
                    "receiver's fixed and per-MB costs cannot be told apart (fit from model "
                    f"sizes {SIZE_SPREAD:g}x apart)"
                )
        # cpu_receivers = n x fixed + MB x per-MB cost of the round's receiver count
        a = np.zeros((len(rounds), 1 + len(counts)))
        a[:, 0] = rounds["n_receivers"].to_numpy(float)
        a[np.arange(len(rounds)), 1 + group] = mb
        coef, *_ = np.linalg.lstsq(a, rounds["cpu_receivers_s"].to_numpy(float), rcond=None)
        rounds["forwarding_s"] = rounds["cpu_machine_s"] - rounds["cpu_receivers_s"]
        rounds["busy_share"] = rounds["cpu_machine_s"] / rounds["wall_s"] / _cores(folders)
        loads = []
        for i, n in enumerate(counts):
            at = rounds[group == i]
            per_rx_at = per_rx[group == i]
            # short rounds carry the start and the end (FRR's daemons, the last receivers'
            # checks) into their cost per frame: the rounds of the larger models only
            largest = at[per_rx_at >= per_rx_at.max() / SIZE_SPREAD]
            per_tech = largest.groupby("technology")[["forwarding_s", "link_frames"]].sum()
            loads.append(
                LoadCosts(
                    receivers=n,
                    receiver_s_per_mb=max(0.0, float(coef[1 + i])),
                    frame_s={
                        str(t): max(0.0, float(r.forwarding_s / max(r.link_frames, 1)))
                        for t, r in per_tech.iterrows()
                    },
                    busy_share=min(1.0, float(largest["busy_share"].max())),
                )
            )
        return cls(cores=_cores(folders), receiver_s=max(0.0, float(coef[0])), loads=tuple(loads))


def _frame_s(load: LoadCosts, tech: str) -> float:
    """A technology's cost per frame; one the calibration did not run: the costliest's."""
    return load.frame_s.get(tech, max(load.frame_s.values(), default=0.0))


def _cores(folders: tuple[Results, ...]) -> int:
    cores = {int(r.environment.get("machine", {}).get("cpus") or 1) for r in folders}
    if len(cores) > 1:
        raise ValueError(f"the folders come from machines of {sorted(cores)} cores")
    return cores.pop()


def _calibration_rounds(folders: tuple[Results, ...]) -> pd.DataFrame:
    """The measured rounds of the folders with their work (round_work)."""
    if not folders:
        raise ValueError("no results folder to fit the machine's costs from")
    parts = []
    for res in folders:
        if res.kind != "measurement":
            raise ValueError(f"{res.path}: the costs need a measurement, not a {res.kind}")
        got = res.tables["rounds"][KEYS + CPU_COLUMNS].merge(round_work(res.tables), on=KEYS)
        parts.append(got.dropna(subset=CPU_COLUMNS))
    rounds = pd.concat(parts, ignore_index=True)
    if rounds.empty:
        raise ValueError("no round with the cpu_* columns (experiments.cpu) to fit from")
    return rounds


def round_work(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per round (KEYS): the receivers, the bytes they took in and the frames and bytes the
    links carried, from a folder's receivers and links tables (measured or predicted)."""
    rx = (
        tables["receivers"]
        .groupby(KEYS)
        .agg(n_receivers=("receiver", "nunique"), received_bytes=("bytes_received", "sum"))
    )
    links = (
        tables["links"]
        .groupby(KEYS)
        .agg(link_frames=("packets", "sum"), link_bytes=("bytes", "sum"))
    )
    return rx.join(links, how="inner").reset_index()


def cpu_times(costs: MachineCosts, res: Results) -> pd.DataFrame:
    """Per (sweep, technology, round), averaged over repetitions, for the work in a folder's
    tables (a prediction's, usually): the CPU-bound time of the first pass and what the
    links carry (`time_s_cpu`), the same without PIM-SM's stale branches where the folder
    states them (`time_s_cpu_low`: they may be pruned at once), and the repairs of what a
    failure cut off at the CPU-bound pace (`repair_s`)."""
    work = round_work(res.tables)
    rounds = res.tables["rounds"]
    if "stale_link_bytes" in rounds:
        work = work.merge(rounds[[*KEYS, "stale_link_bytes"]], on=KEYS, how="left")
    stale = work.get("stale_link_bytes", pd.Series(0.0, index=work.index)).fillna(0.0)
    stale_frames = (stale / work["link_bytes"].clip(lower=1) * work["link_frames"]).fillna(0.0)

    def cpu_s(frames: pd.Series) -> list[float]:
        return [
            costs.cpu_time_s(r.technology, r.n_receivers, r.received_bytes, f)
            for r, f in zip(work.itertuples(), frames, strict=True)
        ]

    work["time_s_cpu"] = cpu_s(work["link_frames"])
    work["time_s_cpu_low"] = cpu_s(work["link_frames"] - stale_frames)
    work = work.merge(repair_times(res, work[[*KEYS, "time_s_cpu"]]), on=KEYS, how="left")
    work["repair_s"] = work["repair_s"].fillna(0.0)
    out = ["time_s_cpu", "time_s_cpu_low", "repair_s"]
    return work.groupby(["sweep", "technology", "round"])[out].mean()


def repair_times(res: Results, cpu: pd.DataFrame) -> pd.DataFrame:
    """Per round (KEYS): the seconds the repairs take after a CPU-bound first pass
    (`repair_s`). A receiver cut off for a while misses what the first pass sent meanwhile:
    the folder's own `bytes_repaired` at its own pace (the model at the sending rate), fewer
    at the CPU-bound pace (`time_s_cpu`). The repairs go at the sending rate: one BitString
    for BIER's receivers (the largest loss), one unicast copy per receiver otherwise."""
    rx = res.tables["receivers"]
    rounds = res.tables["rounds"]
    if "bytes_repaired" not in rx or not {"sending_rate_mbit", "model_bytes"} <= set(rounds):
        return cpu.assign(repair_s=0.0)[[*KEYS, "repair_s"]]
    lost = rx.groupby(KEYS)["bytes_repaired"].agg(["sum", "max"]).reset_index()
    got = cpu.merge(lost, on=KEYS).merge(
        rounds[[*KEYS, "sending_rate_mbit", "model_bytes"]], on=KEYS
    )
    rate = got["sending_rate_mbit"] * 1e6 / 8  # bytes per second
    first_pass = got["model_bytes"].astype(float) / rate
    pace = (first_pass / got["time_s_cpu"].clip(lower=1e-9)).clip(upper=1.0)
    repaired = got["max"].where(got["technology"] == "bier", got["sum"]).astype(float)
    got["repair_s"] = (repaired * pace / rate).fillna(0.0)
    return got[[*KEYS, "repair_s"]]
