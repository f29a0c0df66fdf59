"""The experiment runner: `python -m experiments run EXP.yaml` (make run-experiment).

Per sweep value, per technology, per repetition and round, one round (experiments.round) on
the network that technology runs on:
- unicast, BIER, SR-P2MP: the P4 testbed (testbed.network.Network, switches started without
  a program), brought up once per sweep value when a P4 technology is listed; per technology
  the control plane pushes its pipeline and installs its base state (control row `install`),
  then its rounds run (experiments.p4_backend);
- pim-sm: pimsm's FRR network, brought up and converged once per sweep value, then its rounds
  (experiments.pim_sm).
Tables are written after every round; Ctrl-C stops the round, tears the networks down and
keeps what was measured. The projection of the same description is stored beside the
measurement (prediction/).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments import switch_logs
from experiments.concurrent import ConcurrentPlan, DeliveryPlan, run_concurrent_round
from experiments.control import TechnologyControl
from experiments.delivery import MANIFEST, load_manifest, prepare_model
from experiments.p4_backend import P4Backend
from experiments.pim_sm import PimBackend, pim_available, timers_for
from experiments.results import ResultsWriter, environment, new_run_dir, sweep_label
from experiments.round import Backend, RoundPlan, run_round_in_time
from experiments.schedule import schedule
from experiments.spec import (
    Experiment,
    expand_sweep,
    membership_changes,
    resolve_deliveries,
    resolve_path,
    resolve_receivers,
    source_host,
)
from experiments.topology_source import build_topology
from modelsync.launch import Channel
from modelsync.manifest import Manifest
from softswitch.build_all import is_current
from topologies.model import Topology
from wire.technology import Technology

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = ("bier", "sr_p2mp", "srv6_p2mp")
PORT_STATUS_REGISTER = "MyEgress.port_status"  # declared by every program in p4src/ (README)


class RunnerUnavailable(RuntimeError):
    """Something the runner needs is not there; `missing` says what and why."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("the experiment runner cannot run: " + "; ".join(missing))


def prerequisites() -> list[str]:
    """What a measured run needs here and is missing (empty: it can run)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (Mininet creates namespaces and links): run as root")
    for mod, why in (
        ("mininet.net", "Mininet (the emulated network)"),
        ("testbed.network", "the testbed (testbed.network)"),
        ("controlplane.testbed", "the control plane (controlplane.testbed)"),
        ("modelsync.cli", "the model delivery (modelsync)"),
    ):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            missing.append(f"{why}: {e}")
    return missing


def backend_record(switch_cls: type) -> dict[str, Any]:
    """What environment.json says of the switches' execution backend: softswitch's
    --backend (python, or auto for its eBPF backend), and the kernel and clang it ran on."""
    import platform

    from softswitch.ebpf.build import clang_version

    return {
        "backend": getattr(switch_cls, "backend", switch_cls.target),
        "kernel": platform.release(),
        "clang": clang_version(),
    }


def ensure_programs(build: Path, target: str, say: Callable[[str], None]) -> None:
    """The P4 programs compiled into build/<target>/ (softswitch.build_all) when missing or
    built from other sources than p4src/ holds now (the build's stamp)."""
    need = [build / target / f"{p}.{ext}" for p in PROGRAMS for ext in ("json", "p4info.txtpb")]
    present = all(p.is_file() for p in need)
    if present and is_current(REPO / "p4src", build):
        return
    why = "p4src/ or the compiler changed since" if present else "missing"
    say(f"compiling the P4 programs into {build}/ ({why}; python -m softswitch.build_all)")
    r = subprocess.run(
        [sys.executable, "-m", "softswitch.build_all", "--out", str(build)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    missing = [str(p) for p in need if not p.is_file()]
    if r.returncode != 0 or missing:
        # build_all's report is short (one line per program or P4Info difference): whole
        why = (r.stderr or r.stdout).strip() or "it printed nothing"
        wrote = f"; {', '.join(missing)} not written" if missing else ""
        raise RunnerUnavailable(
            [
                f"the P4 programs for {target} (python -m softswitch.build_all exited with "
                f"{r.returncode}{wrote}). Its report:\n{why}"
            ]
        )


@dataclass
class SweepPoint:
    """What the rounds of one sweep value share."""

    exp: Experiment
    value: Any  # the sweep value (None without a sweep)
    topo: Topology
    out: Path  # the results folder
    scratch: Path
    writer: ResultsWriter
    bar: _Progress
    received: Path  # receivers' files, per round: received/<round tag>/<host>/
    keep: bool  # keep them (else removed once checked)
    model: Path
    manifest: Manifest
    source: str
    prefix: str  # name prefix of the networks' nodes
    # the description's other models (rounds with several at once): name -> directory
    models: dict[str, Path] = field(default_factory=dict)

    def rounds(self, backend: Backend) -> None:
        """Every repetition and round of `backend`'s technology, tables flushed after each."""
        e, tech = self.exp, backend.technology
        sw = f"{sweep_label(self.value)}-" if self.value is not None else ""
        for rep in range(e.repetitions):
            for k in range(len(e.rounds)):
                keys = {"sweep": sweep_label(self.value), "technology": tech}
                keys |= {"repetition": rep, "round": k}
                self.bar.begin(tech, rep, k)
                tag = f"{sw}{tech}-{rep}-{k}"
                if e.rounds[k].deliveries:
                    result = run_concurrent_round(backend, _concurrent_plan(self, keys, k, tag))
                    for table, rows in result.tables.items():
                        self.writer.add(table, rows)
                    self.writer.flush()
                    self.bar.advance()
                    continue
                plan = RoundPlan(
                    e, self.topo, keys, resolve_receivers(e, self.topo, k), self.source,
                    self.model, self.manifest, schedule(e, self.topo, k),
                    self.out / "records" / tag, self.received / tag, self.keep,
                    say=self.bar.say, changes=membership_changes(e, self.topo, k),
                )  # fmt: skip
                for table, rows in run_round_in_time(backend, plan).tables.items():
                    self.writer.add(table, rows)
                self.writer.flush()
                self.bar.advance()


def _concurrent_plan(point: SweepPoint, keys: dict[str, Any], k: int, tag: str) -> ConcurrentPlan:
    """A round of several models at once (experiments.concurrent), their channels numbered
    in the round's order."""
    ds = []
    for i, d in enumerate(resolve_deliveries(point.exp, point.topo, k)):
        path = point.model if d.model == "model" else point.models[d.model]
        manifest = point.manifest if d.model == "model" else load_manifest(path / MANIFEST)
        ds.append(
            DeliveryPlan(
                d.key, path, manifest, d.source, d.receivers, Channel.numbered(i, d.key, path)
            )
        )
    return ConcurrentPlan(
        point.exp, point.topo, keys, ds, point.out / "records" / tag, point.received / tag,
        point.keep, say=point.bar.say,
    )  # fmt: skip


def run_experiment(
    exp: Experiment,
    results_base: Path = Path("results"),
    base: Path | None = None,
    say: Callable[[str], None] = print,
    build: Path | None = None,
    prefix: str | None = None,
    progress: bool = True,
    keep_received: Path | None = None,
    pim_bfd: bool = True,
) -> Path:
    """Every sweep value x technology x repetition x round, results flushed after each round
    (Ctrl-C keeps what was measured, tears the networks down), the projection stored beside
    the measurement (prediction/). The files received are checked (sha256) and removed after
    each round, or kept under `keep_received`. pim-sm runs with BFD (`pim_bfd`); every
    failure is applied in the description's mode on both networks."""
    missing = prerequisites()
    if missing:
        raise RunnerUnavailable(missing)
    build = build or REPO / "build"
    target, note = "frr", "no P4 technology: no P4 switches"
    backend: dict[str, Any] = {}
    if any(t.p4 for t in exp.technologies):
        from testbed.switches import choose_target

        switch_cls, note = choose_target(exp.target)
        target = switch_cls.target
        backend = backend_record(switch_cls)
        ensure_programs(build, target, say)
    out = new_run_dir(results_base, exp.name)
    say(f"results: {out} (written after every round; Ctrl-C keeps what was measured)")
    scratch = Path(tempfile.mkdtemp(prefix="exi-work-"))
    env = environment(
        "measurement",
        target,
        {"target_note": note, "delays": "link delays not emulated (no netem)", **backend},
    )
    writer = ResultsWriter.create(out, exp, env)  # the description as given, sweep included
    bar = _Progress(exp, progress, say)
    pfx = prefix or "exi" + "".join(random.choices(string.ascii_lowercase, k=2))
    finished = False
    try:
        with bar:
            for value, e in expand_sweep(exp):
                topo = build_topology(e, base)
                writer.write_topology(topo, value)
                # one model/, or one per value when the sweep changes the model's size
                sized = exp.sweep is not None and exp.sweep.parameter == "model_size"
                name = f"model-{sweep_label(value)}" if sized else "model"
                model = _model(e, name, out, scratch, base)
                others = {m: _named_model(e, m, out, scratch, base) for m in _models_used(e)}
                point = SweepPoint(
                    e, value, topo, out, scratch, writer, bar, keep_received or scratch,
                    keep_received is not None, model, load_manifest(model / MANIFEST),
                    source_host(e, topo), pfx, others,
                )  # fmt: skip
                _run_sweep_point(point, build, pim_bfd)
        finished = True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        kept = switch_logs.settle(out, writer, finished)
        if kept is not None:
            say(kept)
            writer.update_environment(switch_logs=kept)
        writer.update_environment(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        writer.flush()
    from experiments.validation import predict_beside

    try:
        predict_beside(out)
    except Exception as ex:  # the measurement stands without its prediction; say why
        say(f"prediction beside the measurement failed: {type(ex).__name__}: {ex}")
    return out


def _model(e: Experiment, name: str, out: Path, scratch: Path, base: Path | None) -> Path:
    """The model of a sweep value: generated into the results folder's `name`, or the
    manifest of an existing directory (in scratch)."""
    if e.model.dir is not None:
        return prepare_model(None, None, resolve_path(e.model.dir, base), scratch / "model", 0)
    return prepare_model(e.model.size, e.model.shards, None, out / name, e.seed)


def _models_used(e: Experiment) -> list[str]:
    """The named models the rounds deliver (besides `model`)."""
    used = {d.model for r in e.rounds for d in r.deliveries} - {"model"}
    return [m for m in e.models if m in used]


def _named_model(e: Experiment, name: str, out: Path, scratch: Path, base: Path | None) -> Path:
    """One of the description's `models`: generated into the results folder's model-<name>/
    (seeded apart from the others; once for every sweep value), or the manifest of an
    existing directory."""
    spec = e.models[name]
    folder = f"model-{name}"
    if spec.dir is not None:
        return prepare_model(None, None, resolve_path(spec.dir, base), scratch / folder, 0)
    seed = e.seed + 1 + list(e.models).index(name)
    return prepare_model(spec.size, spec.shards, None, out / folder, seed)


def _run_sweep_point(point: SweepPoint, build: Path, pim_bfd: bool) -> None:
    """The technologies of one sweep value in their order; the P4 testbed is brought up at
    the first P4 technology and kept until the last, the FRR network at the first of pim-sm
    and pim-ssm and kept until the last. A network is stopped once no technology after it
    needs it: at 49 nodes the P4 switches' BFD sessions alone took a seventh of this 2-core
    machine from the FRR network's rounds."""
    techs = point.exp.technologies
    last_p4 = max((i for i, t in enumerate(techs) if t.p4), default=-1)
    last_pim = max((i for i, t in enumerate(techs) if not t.p4), default=-1)
    with contextlib.ExitStack() as p4_stack, contextlib.ExitStack() as pim_stack:
        p4: _P4Testbed | None = None
        pim: _PimNetwork | None = None
        for i, tech in enumerate(techs):
            if not tech.p4:
                if pim is None:
                    pim = pim_stack.enter_context(_PimNetwork(point, pim_bfd))
                pim.run(tech)
                if i == last_pim:
                    pim_stack.close()
                continue
            if p4 is None:
                p4 = p4_stack.enter_context(_P4Testbed(point, build))
            p4.run(tech)
            if i == last_p4:
                p4_stack.close()


class _P4Testbed:
    """The P4 testbed of one sweep value: the network and the control plane attached to it."""

    def __init__(self, point: SweepPoint, build: Path) -> None:
        from linkmon.bfd import Timers
        from testbed.network import Network

        e, topo = point.exp, point.topo
        self.point = point
        top_id = max(s.device_id for s in topo.switches)  # switch N serves on base + N
        self.net = Network(
            topo, e.target, None, prefix=point.prefix, grpc_port_base=_grpc_base(top_id),
            log_dir=switch_logs.log_dir(point.out, point.value), delay="ignore",
            say=point.bar.say,
            # The switches mark ports that are down (no carrier, or a failed BFD session on
            # every switch-to-switch link) in the programs' register themselves: the data plane
            # drops copies to them and BIER-FRR switches to its backups at once.
            port_status_register=PORT_STATUS_REGISTER,
            bfd=Timers(e.control.bfd.interval_ms, e.control.bfd.multiplier),
            # the switch processes boot together, sharing the cores: 49 of them took 25-45 s
            # on 2 busy cores (testbed README); 2 s each, at least the usual 30
            ready_timeout=max(30.0, 2.0 * len(topo.switches)),
        )  # fmt: skip
        self.ctl = TechnologyControl(build, point.scratch / "root-sid", e.control.bier_frr)

    def __enter__(self) -> _P4Testbed:
        say = self.point.bar.say
        say(f"{self.net.target_note}; switches start without a program, the controller pushes it")
        try:
            self.net.start()
            self.net.attach(self.ctl)
        except BaseException:
            self.__exit__()
            raise
        nodes = [self.net.switch_node(s.name) for s in self.point.topo.switches]
        running = {n.topo_name: n.backend_in_use() for n in nodes if hasattr(n, "backend_in_use")}
        if running:  # what each switch process said it runs (ebpf or python)
            self.point.writer.update_environment(switch_backends=running)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.ctl.stop()
        finally:
            self.net.stop()

    def run(self, tech: str) -> None:
        """Push `tech`'s pipeline, install its base state, run its rounds."""
        p = self.point
        p.bar.say(f"{tech}: pushing the pipeline and installing the base state")
        inst = self.ctl.select(tech)
        keys = {"sweep": sweep_label(p.value), "technology": tech, "repetition": 0, "round": 0}
        p.writer.add("control", [{**keys, "action": "install", "switch": "", **inst}])
        p.rounds(P4Backend(self.net, p.topo, self.ctl, p.model))


class _PimNetwork:
    """pimsm's FRR network of one sweep value (kernel or emulated forwarding, OSPF, pimd, BFD
    with the description's `control.bfd`), brought up and converged once for the rounds of
    pim-sm and pim-ssm (modelsync over IP multicast); neither runs where it cannot."""

    def __init__(self, point: SweepPoint, bfd: bool) -> None:
        self.point, self.bfd = point, bfd
        self.why = pim_available()
        self.net: Any = None

    def __enter__(self) -> _PimNetwork:
        from pimsm.network import PimNetwork

        p, bfd = self.point, self.bfd
        if self.why is not None:
            p.writer.update_environment(not_run_pim_sm=self.why)
            return self
        self.net = PimNetwork(
            p.topo, timers=timers_for(p.exp, bfd), bfd=bfd, prefix=p.prefix, delay="ignore"
        )
        try:
            self.net.start()
            p.bar.say(f"FRR network up ({len(self.net.routers)} routers, bfd={bfd}); converging")
            conv = self.net.wait_converged(timeout=180)
        except BaseException:
            self.__exit__()
            raise
        p.bar.say(f"FRR network converged in {conv:.1f} s")
        p.writer.update_environment(pim_sm_converge_s=conv)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.net is not None:
            self.net.stop()

    def run(self, tech: Technology) -> None:
        """Every round of `tech` (pim-sm or pim-ssm) on the network."""
        p = self.point
        if self.why is not None:
            p.bar.say(f"{tech}: not run: {self.why}")
            p.bar.skip(tech, p.exp)
            return
        backend = PimBackend(self.net, p.topo, p.model, tech)
        key = str(tech).replace("-", "_")  # pim_sm, pim_ssm
        p.writer.update_environment(**{key: backend.environment()})
        p.rounds(backend)


def _grpc_base(n: int) -> int:
    """A block of free local TCP ports for the switches' P4Runtime servers (base + device id)."""
    for _ in range(100):
        base = random.randrange(20000, 40000)
        try:
            for p in range(base, base + n + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RunnerUnavailable(["no free block of local TCP ports for the switches"])


class _Progress:
    """Progress per technology, repetition and round (rich), lines printed above it."""

    def __init__(self, exp: Experiment, enabled: bool, say: Callable[[str], None]) -> None:
        n = len(expand_sweep(exp)) * len(exp.technologies) * exp.repetitions * len(exp.rounds)
        self.exp, self.total, self._say = exp, n, say
        self.progress = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), transient=False,
            )  # fmt: skip
            self.task = self.progress.add_task("rounds", total=n)

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress.console.print(msg, markup=False, highlight=False)
        else:
            self._say(msg)

    def begin(self, tech: str, rep: int, k: int) -> None:
        e = self.exp
        name = e.rounds[k].name or str(k)
        desc = (
            f"{tech}: repetition {rep + 1}/{e.repetitions}, round {k + 1}/{len(e.rounds)} ({name})"
        )
        if self.progress is not None:
            self.progress.update(self.task, description=desc)
        else:
            self._say(desc)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def skip(self, tech: str, e: Experiment) -> None:
        self.advance(e.repetitions * len(e.rounds))
