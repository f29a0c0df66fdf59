"""The results folder: layout, table schemas, writers and readers.

    results/<YYYYmmdd-HHMMSS>-<name>/
        description.yaml       the experiment description as run (normalized)
        environment.json       kind (measurement | projection), target, versions, machine, times
        topology.yaml          the resolved topology (topology-<sweep>.yaml per sweep value)
        rounds.<fmt>           one row per (sweep, technology, repetition, round)
        receivers.<fmt>        one row per receiver of a round
        links.<fmt>            one row per link direction of a round
        switches.<fmt>         one row per switch table (or replication group) of a round
        control.<fmt>          one row per control-plane action
        failures.<fmt>         one row per failure event and affected receiver
        model_links.<fmt>      one row per link direction and model, in rounds that deliver
                               several models at once
        prediction/            the projection for the same parameters, same layout
        figures/               written by `python -m experiments.report`

<fmt> is `parquet` (default) or `csv`. Every table starts with the key columns `sweep`,
`technology`, `repetition`, `round`. Times are seconds from the round's first data packet.
A folder's `environment.json` says whether its numbers were measured or projected; a reader
never has to guess.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from experiments.spec import Experiment, SpecError, parse_experiment
from topologies.model import Topology

Kind = Literal["measurement", "projection"]
Format = Literal["parquet", "csv"]

KEYS: dict[str, str] = {
    "sweep": "string",  # the sweep value as text, "" without a sweep
    "technology": "string",
    "repetition": "Int64",
    "round": "Int64",
}

# table -> column -> pandas dtype. Nullable dtypes: a value the runner could not get is NA.
SCHEMAS: dict[str, dict[str, str]] = {
    "rounds": {
        **KEYS,
        "receivers": "Int64",  # GPU hosts in the round's set
        "model_bytes": "Int64",
        "sending_rate_mbit": "float64",
        "bottleneck_mbit": "float64",  # slowest link the technology's structure relies on
        "ideal_time_s": "float64",  # the model's frames over the bottleneck (load / capacity)
        "ideal_link_bytes": "float64",  # tree edges x model frames (unicast: path hops x them)
        "tree_edges": "Int64",
        # several models at once: what the description's source ideally sends (their frames
        # once per model, unicast once per receiver); NA otherwise (the summary computes it)
        "ideal_source_bytes": "float64",
        # projection, PIM-SM after a new receiver set: wire bytes it puts on branches of the
        # previous tree whose state may outlive the set (0 otherwise; NA when measured)
        "stale_link_bytes": "float64",
        "switches_kept_up": "boolean",  # False: a switch dropped frames it could not process
        "switch_drops": "Int64",
        # where the round's CPU went (experiments.cpu; NA in projections and older folders)
        "start_s": "float64",  # wall seconds to start the receivers (before the data)
        "wall_s": "float64",  # the sender's start to the last receiver's end
        "cpu_machine_s": "float64",  # busy CPU of the whole machine over wall_s
        "cpu_softirq_s": "float64",  # of which softirq, sampled by the kernel's ticks
        "cpu_receivers_s": "float64",  # the receivers' own (their start included)
        "cpu_sender_s": "float64",  # the sender's own, the kernel's inline forwarding included
        "cpu_network_s": "float64",  # the switch or router processes over wall_s
        "load_1m": "float64",  # the machine's load average when the round began
        "note": "string",
    },
    "receivers": {
        **KEYS,
        "receiver": "string",
        "model": "string",  # which model (several at once: `models` names); NA with one
        "cloud": "string",
        "first_packet_s": "float64",
        "completed_s": "float64",  # last shard verified (sha256)
        "loaded_s": "float64",  # safetensors headers read (cold-start proxy)
        "verified": "boolean",
        "bytes_received": "Int64",
        "packets_received": "Int64",
        "duplicates": "Int64",
        "corrupt": "Int64",
        "nacks_sent": "Int64",
        "chunks_repaired": "Int64",
        "bytes_repaired": "Int64",
        # receivers that joined or left while the model flowed (NA for the others): when,
        # and how long after its leave the last datagram still reached it
        "joined_s": "float64",
        "left_s": "float64",
        "stopped_s": "float64",
    },
    "links": {
        **KEYS,
        "link": "string",  # the topology's link name a-b
        "src": "string",  # direction: bytes sent from src to dst
        "dst": "string",
        "wan": "boolean",
        "capacity_mbit": "float64",
        "bytes": "Int64",
        "packets": "Int64",
    },
    "switches": {
        **KEYS,
        "switch": "string",
        "table": "string",  # P4 table name, or 'replication_group' / 'mroute' etc.
        "entries": "Int64",
        "replicas": "Int64",  # replication groups: replicas in them; NA for tables
    },
    "control": {
        **KEYS,
        "action": "string",  # install | new-set | failure | revert | join | leave
        "switch": "string",  # "" when the action is not per switch; join, leave: the host
        "writes": "Int64",
        "started_s": "float64",
        "duration_s": "float64",
    },
    "failures": {
        **KEYS,
        "event": "Int64",
        "kind": "string",  # link-down | link-up | switch-down | switch-up
        "element": "string",  # link a-b or switch name
        "mode": "string",  # carrier (cable pull) | silent (drops both ways, carrier up)
        "at_s": "float64",  # applied
        "detected_s": "float64",  # first noticed by the network (a switch, a router), measured
        "reconverged_s": "float64",  # the reaction's end (controller writes; else data back)
        "receiver": "string",  # an affected receiver ("" for the event's own row)
        "outage_s": "float64",  # the receiver's data gap (its own kernel-stamped arrivals)
        "local_repair_s": "float64",  # data back before the network reacted (BIER-FRR)
        "packets_lost": "Int64",
        "bytes_repaired": "Int64",
    },
    "model_links": {
        **KEYS,
        "model": "string",  # a model's name; "" for frames of no model (NACKs, BFD, ...)
        "link": "string",
        "src": "string",
        "dst": "string",
        "bytes": "Int64",  # its frames' bytes on the wire in that direction
        "packets": "Int64",
    },
}
TABLES: tuple[str, ...] = tuple(SCHEMAS)
CPU_COLUMNS = ("start_s", "wall_s", "cpu_machine_s", "cpu_softirq_s", "cpu_receivers_s",
               "cpu_sender_s", "cpu_network_s", "load_1m")  # fmt: skip
# columns added after results folders were first written: NA when an older folder lacks them
LATER_COLUMNS: dict[str, set[str]] = {
    "rounds": {"stale_link_bytes", "ideal_source_bytes", *CPU_COLUMNS},
    "failures": {"mode", "local_repair_s"},
    "receivers": {"model", "joined_s", "left_s", "stopped_s"},
}
# tables added after results folders were first written: empty when an older folder lacks one
LATER_TABLES: set[str] = {"model_links"}


class ResultsError(ValueError):
    """A results folder or table that does not follow the format; names file and column."""


def normalize(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Check a table against its schema and return it with the schema's columns and dtypes."""
    if table not in SCHEMAS:
        raise ResultsError(f"unknown results table {table!r} (known: {', '.join(TABLES)})")
    schema = SCHEMAS[table]
    later = [c for c in LATER_COLUMNS.get(table, ()) if c not in df.columns]
    if later:
        df = df.assign(**dict.fromkeys(later, None))
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unknown columns {extra}")
        raise ResultsError(f"table {table!r}: " + "; ".join(parts))
    out = pd.DataFrame(index=range(len(df)))
    for col, dtype in schema.items():
        try:
            out[col] = df[col].reset_index(drop=True).astype(dtype)
        except (TypeError, ValueError) as e:
            raise ResultsError(f"table {table!r}, column {col!r}: not {dtype}: {e}") from None
    return out


def empty(table: str) -> pd.DataFrame:
    return normalize(table, pd.DataFrame({c: [] for c in SCHEMAS[table]}))


def rows(table: str, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A table from dict records; columns the records leave out are NA."""
    recs = list(records)
    if not recs:
        return empty(table)
    cols = SCHEMAS[table]
    unknown = sorted({k for r in recs for k in r} - set(cols))
    if unknown:
        raise ResultsError(f"table {table!r}: unknown columns {unknown}")
    return normalize(table, pd.DataFrame([{c: r.get(c) for c in cols} for r in recs]))


def sweep_label(value: Any) -> str:
    return "" if value is None else str(value)


def environment(kind: Kind, target: str, extra: Mapping[str, Any] | None = None) -> dict:
    """What ran where: the record that makes a results folder reproducible."""
    versions = {"python": sys.version.split()[0]}
    for pkg in ("networkx", "pandas", "pyarrow", "pydantic", "finsy", "scapy", "grpcio"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    env = {
        "kind": kind,
        "target": target,
        "versions": versions,
        "machine": {
            "hostname": platform.node(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "memory_bytes": _memory_bytes(),
        },
        "git_commit": _git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if extra:
        env.update(extra)
    return env


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _git_commit() -> str | None:
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


def new_run_dir(base: str | Path, name: str, now: float | None = None) -> Path:
    """Create results/<YYYYmmdd-HHMMSS>-<name>/ (a suffix -2, -3... if it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    root = Path(base).resolve()  # hosts run their programs from the repository
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{stamp}-{name}"
    n = 2
    while path.exists():
        path = root / f"{stamp}-{name}-{n}"
        n += 1
    path.mkdir()
    return path


@dataclass
class ResultsWriter:
    """Collects rows and writes the folder. `flush()` after every round keeps what was measured
    so far on disk (Ctrl-C loses at most the round in progress)."""

    path: Path
    fmt: Format = "parquet"
    tables: dict[str, list[pd.DataFrame]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        path: str | Path,
        exp: Experiment,
        env: Mapping[str, Any],
        fmt: Format = "parquet",
    ) -> ResultsWriter:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        if env.get("kind") not in ("measurement", "projection"):
            raise ResultsError("environment 'kind' must be 'measurement' or 'projection'")
        data = exp.model_dump(mode="json", by_alias=True, exclude_none=True)
        (p / "description.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (p / "environment.json").write_text(json.dumps(dict(env), indent=2, default=str))
        return cls(p, fmt)

    def add(self, table: str, data: pd.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        df = normalize(table, data) if isinstance(data, pd.DataFrame) else rows(table, data)
        self.tables.setdefault(table, []).append(df)

    def write_topology(self, topo: Topology, sweep: Any = None) -> Path:
        name = "topology.yaml" if sweep is None else f"topology-{sweep_label(sweep)}.yaml"
        data = topo.model_dump(mode="json", exclude_none=True)
        for lk in data["links"]:
            # The model gives a host's end port 0 (its eth0) but accepts only >= 1 on input.
            for end in ("a_port", "b_port"):
                if lk.get(end) == 0:
                    del lk[end]
        out = self.path / name
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        return out

    def update_environment(self, **fields: Any) -> None:
        p = self.path / "environment.json"
        env = json.loads(p.read_text())
        env.update(fields)
        p.write_text(json.dumps(env, indent=2, default=str))

    def flush(self) -> None:
        for table in TABLES:
            parts = self.tables.get(table, [])
            df = pd.concat(parts, ignore_index=True) if parts else empty(table)
            write_table(self.path, table, normalize(table, df), self.fmt)


def write_table(folder: Path, table: str, df: pd.DataFrame, fmt: Format) -> Path:
    for old in (folder / f"{table}.csv", folder / f"{table}.parquet"):
        old.unlink(missing_ok=True)
    out = folder / f"{table}.{fmt}"
    tmp = out.with_suffix(out.suffix + ".tmp")
    if fmt == "parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, out)  # a reader never sees half a table
    return out


def read_table(folder: str | Path, table: str) -> pd.DataFrame:
    folder = Path(folder)
    pq, csv = folder / f"{table}.parquet", folder / f"{table}.csv"
    try:
        if pq.exists():
            df = pd.read_parquet(pq)
        elif csv.exists():
            # CSV has no NA for text: an empty text cell reads back as "", an empty number or
            # flag as NA.
            schema = SCHEMAS.get(table, {})
            text = [c for c, d in schema.items() if d == "string"]
            df = pd.read_csv(
                csv,
                dtype=dict.fromkeys(text, "string"),
                keep_default_na=False,
                na_values={c: [""] for c in schema if c not in text},
            )
        else:
            raise ResultsError(f"{folder}: no table {table!r} ({table}.parquet or {table}.csv)")
    except (OSError, ValueError) as e:
        if isinstance(e, ResultsError):
            raise
        raise ResultsError(f"{folder}: cannot read table {table!r}: {e}") from None
    try:
        return normalize(table, df)
    except ResultsError as e:
        raise ResultsError(f"{folder}: {e}") from None


@dataclass
class Results:
    """A results folder, read back."""

    path: Path
    experiment: Experiment
    environment: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def kind(self) -> Kind:
        return self.environment["kind"]

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]

    def topology(self, sweep: Any = None) -> Topology:
        from topologies.loader import load

        label = sweep_label(sweep)
        p = self.path / ("topology.yaml" if not label else f"topology-{label}.yaml")
        if not p.exists():
            p = self.path / "topology.yaml"
        return load(p)

    def prediction(self) -> Results | None:
        p = self.path / "prediction"
        return read_results(p) if (p / "environment.json").exists() else None


def read_results(path: str | Path) -> Results:
    p = Path(path)
    if not p.is_dir():
        raise ResultsError(f"{p}: not a results folder")
    try:
        env = json.loads((p / "environment.json").read_text())
        desc = yaml.safe_load((p / "description.yaml").read_text())
    except (OSError, ValueError) as e:
        raise ResultsError(
            f"{p}: missing or broken environment.json/description.yaml: {e}"
        ) from None
    if env.get("kind") not in ("measurement", "projection"):
        raise ResultsError(f"{p}/environment.json: 'kind' must be measurement or projection")
    try:
        exp = parse_experiment(desc, str(p / "description.yaml"))
    except SpecError as e:
        raise ResultsError(str(e)) from None
    tables = {
        t: empty(t) if t in LATER_TABLES and not _has_table(p, t) else read_table(p, t)
        for t in TABLES
    }
    return Results(p, exp, env, tables)


def _has_table(folder: Path, table: str) -> bool:
    return (folder / f"{table}.parquet").exists() or (folder / f"{table}.csv").exists()
