"""The experiment description: YAML validated into typed models.

One description drives both the emulation runner and the flow-level projection. A bad file
fails with `SpecError`, whose message names the file, the path of the bad field
(`rounds[1].receivers.fraction`) and why.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from modelsync.sizes import parse_size
from topologies.model import Topology
from wire.technology import Technology

Target = Literal["auto", "softswitch", "bmv2"]


class SpecError(ValueError):
    """A description that cannot be used; the message names the file and the field."""


ByteSize = Annotated[int, BeforeValidator(parse_size)]


def parse_rate(value: Any) -> float | str:
    if value == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ValueError(f"{value!r} is not a rate: give Mbit/s (> 0) or 'auto'")


Rate = Annotated[Any, BeforeValidator(parse_rate)]  # float Mbit/s, or "auto"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


# -- topology ------------------------------------------------------------------------------
class TopologyRef(_Strict):
    """Either a topology file or a generator with its parameters."""

    file: Path | None = None
    generator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> TopologyRef:
        if (self.file is None) == (self.generator is None):
            raise ValueError("give exactly one of 'file' or 'generator'")
        if self.file is not None and self.params:
            raise ValueError("'params' belongs to a generator, not to a topology file")
        return self


# -- model ---------------------------------------------------------------------------------
class ModelSpec(_Strict):
    """A generated synthetic model (size and shards) or an existing directory of shards."""

    size: ByteSize | None = None
    shards: int | None = Field(default=None, ge=1, le=100_000)
    dir: Path | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ModelSpec:
        if self.dir is not None:
            if self.size is not None or self.shards is not None:
                raise ValueError("give either 'dir' or 'size' and 'shards', not both")
        elif self.size is None:
            raise ValueError("give 'size' (with 'shards') or 'dir'")
        elif self.shards is None:
            self.shards = 1
        return self


# -- receiver sets -------------------------------------------------------------------------
class CloudsSet(_Strict):
    clouds: list[str] = Field(min_length=1)


class HostsSet(_Strict):
    hosts: list[str] = Field(min_length=1)


class FractionSet(_Strict):
    fraction: float = Field(gt=0, le=1)
    seed: int | None = None  # default: the experiment's seed plus the round index


class CountSet(_Strict):
    count: int = Field(ge=1)
    seed: int | None = None


def _tag_by_key(*keys: str) -> Any:
    """Pick a union member by the key the mapping has, so that an error speaks of that member
    only (not of every alternative)."""

    def tag(v: Any) -> str | None:
        if isinstance(v, str):
            return "all"
        src = v if isinstance(v, dict) else getattr(v, "__dict__", {})
        return next((k for k in keys if k in src), None)

    return tag


ReceiverSet = Annotated[
    Annotated[Literal["all"], Tag("all")]
    | Annotated[CloudsSet, Tag("clouds")]
    | Annotated[HostsSet, Tag("hosts")]
    | Annotated[FractionSet, Tag("fraction")]
    | Annotated[CountSet, Tag("count")],
    Discriminator(
        _tag_by_key("clouds", "hosts", "fraction", "count"),
        custom_error_type="receiver_set",
        custom_error_message="a receiver set is 'all' or a mapping with one of clouds, hosts, "
        "fraction, count",
    ),
]


class Join(_Strict):
    """A GPU host joins the round's receivers `at` seconds after its first data packet."""

    join: str
    at: float = Field(ge=0)


class Leave(_Strict):
    """A receiver of the round leaves `at` seconds after its first data packet."""

    leave: str
    at: float = Field(ge=0)


MembershipChange = Annotated[
    Annotated[Join, Tag("join")] | Annotated[Leave, Tag("leave")],
    Discriminator(
        _tag_by_key("join", "leave"),
        custom_error_type="membership_change",
        custom_error_message="a change of receivers is a mapping with one of join, leave",
    ),
]


class Delivery(_Strict):
    """One of several models delivered at once in a round: which model (a name of the
    description's `models`, or `model` for its `model`), from which model-store host
    (default: the description's source) to which receivers."""

    model: str = "model"
    source: str | None = None
    receivers: ReceiverSet = "all"


class Round(_Strict):
    name: str | None = None
    receivers: ReceiverSet = "all"
    # receivers joining and leaving while the model flows (the round's set is who starts)
    changes: list[MembershipChange] = Field(default_factory=list)
    # several models at once, sharing the network (instead of `receivers`)
    deliveries: list[Delivery] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> Round:
        if self.deliveries and self.receivers != "all":
            raise ValueError("give either 'receivers' or 'deliveries', not both")
        if self.deliveries and self.changes:
            raise ValueError("joins and leaves ('changes') go with one delivery, not 'deliveries'")
        if len(self.deliveries) == 1:
            raise ValueError("'deliveries' is for two or more models at once; one is 'receivers'")
        return self


# -- failures ------------------------------------------------------------------------------
# How a link fails, the same in the P4 network and the FRR network (testbed.failures):
# carrier: a cable pull, both ends lose carrier; silent: both ends drop everything while
# carrier stays up (a fault inside a WAN path), so only BFD notices
FailureMode = Literal["carrier", "silent"]


class LinkDown(_Strict):
    """A link goes down at `at` seconds after the round's first data packet; up after `for`."""

    link: str
    at: float = Field(ge=0)
    duration: float | None = Field(default=None, gt=0, alias="for")
    mode: FailureMode = "carrier"
    round: int | None = Field(default=None, ge=0)  # None: every round


class LinkFlap(_Strict):
    flap: str
    at: float = Field(ge=0)
    down: float = Field(gt=0)
    up: float = Field(gt=0)
    count: int = Field(default=1, ge=1)
    mode: FailureMode = "carrier"
    round: int | None = Field(default=None, ge=0)


class SwitchDown(_Strict):
    """A whole switch fails: every one of its links at once (carrier: a dead box's ports go
    dark; silent: a hung box that still shows carrier)."""

    switch: str
    at: float = Field(ge=0)
    duration: float | None = Field(default=None, gt=0, alias="for")
    mode: FailureMode = "carrier"
    round: int | None = Field(default=None, ge=0)


Failure = Annotated[
    Annotated[LinkDown, Tag("link")]
    | Annotated[LinkFlap, Tag("flap")]
    | Annotated[SwitchDown, Tag("switch")],
    Discriminator(
        _tag_by_key("link", "flap", "switch"),
        custom_error_type="failure",
        custom_error_message="a failure is a mapping with one of link, flap, switch",
    ),
]


class Bfd(_Strict):
    """BFD on every switch-to-switch link: the P4 switches' sessions and FRR's alike."""

    interval_ms: float = Field(default=50.0, ge=10)  # TX and RX; FRR takes no less than 10
    multiplier: int = Field(default=3, ge=2, le=255)

    @property
    def detection_ms(self) -> float:
        return self.interval_ms * self.multiplier


class ControlTiming(_Strict):
    """The network's failure detection (BFD, one setting for every technology), BIER-FRR, and
    the reaction delays the projection assumes (the emulation measures its own)."""

    bfd: Bfd = Field(default_factory=Bfd)
    bier_frr: bool = True  # BIER-FRR backups where the topology has alternates
    # the projection's assumptions; the emulation measures these
    carrier_detection_ms: float = Field(default=5.0, ge=0)  # a port's carrier loss, reported
    compute_ms: float = Field(default=10.0, ge=0)  # controller recomputation
    write_ms: float = Field(default=1.0, ge=0)  # one P4Runtime write (batched per switch)
    igp_spf_ms: float = Field(default=200.0, ge=0)  # PIM-SM: IGP convergence before re-join
    pim_join_ms: float = Field(default=5.0, ge=0)  # PIM-SM: one hop of join propagation

    @model_validator(mode="before")
    @classmethod
    def _no_configured_detection(cls, data: Any) -> Any:
        if isinstance(data, dict) and "detection_ms" in data:
            raise ValueError(
                "detection_ms is no longer a setting: the network detects failures itself "
                "(carrier loss at once, silent failures by BFD); give bfd: {interval_ms, "
                "multiplier} instead (default 50 ms x 3)"
            )
        return data

    def detection_ms(self, mode: str) -> float:
        """How long detecting a failure of this mode takes (the projection's assumption)."""
        return self.carrier_detection_ms if mode == "carrier" else self.bfd.detection_ms


# -- sweeps and projection -----------------------------------------------------------------
class Sweep(_Strict):
    parameter: Literal["receivers", "clouds", "model_size"]
    values: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _typed_values(self) -> Sweep:
        out: list[Any] = []
        for i, v in enumerate(self.values):
            try:
                if self.parameter == "model_size":
                    out.append(parse_size(v))
                elif self.parameter == "receivers" and isinstance(v, float) and 0 < v <= 1:
                    out.append(v)  # a fraction of the GPU hosts
                elif isinstance(v, int) and not isinstance(v, bool) and v >= 1:
                    out.append(v)
                else:
                    raise ValueError(f"{v!r} is not a positive count")
            except ValueError as e:
                raise ValueError(f"values[{i}]: {e}") from None
        self.values = out
        return self


class ProjectionScale(_Strict):
    """How the projection scales an emulated description to real hardware."""

    bandwidth_scale: float = Field(default=1.0, gt=0)  # multiplies every link's bw_mbit
    model_size: ByteSize | None = None  # replaces model.size
    sending_rate_mbit: float | None = Field(default=None, gt=0)  # None: scaled like links


class Experiment(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    topology: TopologyRef
    target: Target = "auto"
    technologies: list[Technology] = Field(min_length=1)
    model: ModelSpec
    # more models, by name, for rounds that deliver several at once (Round.deliveries)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    # the sender's pacing rate, all copies together; "auto": per technology and round, the
    # highest rate that overloads no link (experiments.projection.auto_rate)
    sending_rate_mbit: Rate
    rounds: list[Round] = Field(default_factory=lambda: [Round()], min_length=1)
    failures: list[Failure] = Field(default_factory=list)
    control: ControlTiming = Field(default_factory=ControlTiming)
    repetitions: int = Field(default=1, ge=1)
    seed: int = 1
    source: str | None = None  # the model-store host; default: the first one
    sweep: Sweep | None = None
    projection: ProjectionScale = Field(default_factory=ProjectionScale)

    @field_validator("technologies")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dup = sorted({t for t in v if v.count(t) > 1})
        if dup:
            raise ValueError(f"technology listed twice: {dup}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Experiment:
        for i, f in enumerate(self.failures):
            if f.round is not None and f.round >= len(self.rounds):
                raise ValueError(
                    f"failures[{i}].round: {f.round} but there are {len(self.rounds)} rounds"
                )
        if self.sweep and self.sweep.parameter == "clouds" and self.topology.generator is None:
            raise ValueError("sweep over 'clouds' needs a topology generator, not a file")
        if self.sweep and self.sweep.parameter == "model_size" and self.model.dir is not None:
            raise ValueError("sweep over 'model_size' needs a generated model, not 'dir'")
        for name in self.models:
            if name == "model" or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", name):
                raise ValueError(
                    f"models.{name}: a model's name is [A-Za-z0-9_.-] (up to 32) and not 'model'"
                )
        for k, r in enumerate(self.rounds):
            for i, d in enumerate(r.deliveries):
                if d.model in [x.model for x in r.deliveries[:i]]:
                    raise ValueError(
                        f"rounds[{k}].deliveries[{i}].model: {d.model} is delivered twice in "
                        "the round (a model's bytes on a link are told apart by its id)"
                    )
                if d.model != "model" and d.model not in self.models:
                    raise ValueError(
                        f"rounds[{k}].deliveries[{i}].model: no model {d.model!r} (have "
                        f"{', '.join(['model', *self.models])})"
                    )
        for i, f in enumerate(self.failures):
            hit = range(len(self.rounds)) if f.round is None else [f.round]
            if any(self.rounds[k].deliveries for k in hit):
                raise ValueError(
                    f"failures[{i}]: failures are not applied in rounds with 'deliveries' "
                    "(give the failure a round with one delivery)"
                )
        return self


# -- loading -------------------------------------------------------------------------------
def _loc(loc: tuple[int | str, ...]) -> str:
    """'rounds[2].receivers.fraction' from pydantic's location, without the union tags that
    follow a receiver set or a failure entry."""
    out = ""
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i >= 1 else None
        prev2 = loc[i - 2] if i >= 2 else None
        is_tag = prev == "receivers" or (prev2 in ("failures", "changes") and isinstance(prev, int))
        if is_tag and isinstance(part, str):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _format(errors: list[Any], where: str) -> str:
    lines = []
    seen: set[str] = set()
    for err in errors:
        msg = str(err["msg"]).removeprefix("Value error, ")
        line = f"{where}: {_loc(tuple(err['loc']))}: {msg}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines)


def parse_experiment(data: Any, where: str = "<description>") -> Experiment:
    if not isinstance(data, dict):
        raise SpecError(f"{where}: an experiment description is a mapping, got {type(data)}")
    try:
        return Experiment.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format(e.errors(), where)) from None


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate a description file; relative topology/model paths stay as written."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise SpecError(f"{p}: cannot read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{p}: not valid YAML: {e}") from None
    return parse_experiment(data, str(p))


def resolve_path(path: Path, base: Path | None) -> Path:
    """A path from a description: absolute, relative to the description file, or to the cwd."""
    if path.is_absolute():
        return path
    if base is not None and (base / path).exists():
        return base / path
    return path


# -- expansion and resolution against a topology -------------------------------------------
def expand_sweep(exp: Experiment) -> list[tuple[Any, Experiment]]:
    """The concrete experiments of a sweep as (value, experiment); [(None, exp)] without one."""
    if exp.sweep is None:
        return [(None, exp)]
    out = []
    for v in exp.sweep.values:
        e = exp.model_copy(deep=True)
        e.sweep = None
        if exp.sweep.parameter == "model_size":
            e.model.size = v
        elif exp.sweep.parameter == "clouds":
            e.topology.params["clouds"] = v
        else:
            sel: FractionSet | CountSet = (
                FractionSet(fraction=v) if isinstance(v, float) else CountSet(count=v)
            )
            e.rounds = [Round(name=r.name, receivers=sel) for r in e.rounds]
        out.append((v, e))
    return out


def source_host(exp: Experiment, topo: Topology) -> str:
    if exp.source is not None:
        if exp.source not in {h.name for h in topo.hosts}:
            raise SpecError(f"source: no host {exp.source!r} in topology {topo.name!r}")
        return exp.source
    stores = topo.model_stores()
    if not stores:
        raise SpecError(f"topology {topo.name!r} has no model-store host to send from")
    return stores[0].name


def resolve_receivers(exp: Experiment, topo: Topology, round_index: int) -> list[str]:
    """The GPU hosts of one round, in topology order. Random sets are seeded per round."""
    r = exp.rounds[round_index]
    return _resolve_set(r.receivers, topo, f"rounds[{round_index}].receivers",
                        exp.seed + round_index)  # fmt: skip


@dataclass(frozen=True)
class ResolvedDelivery:
    """One model's delivery in a round: `key` names it in records, tables and the network
    (the model's name; "" for a round of one delivery)."""

    key: str
    model: str  # "model" or a name of the description's `models`
    source: str
    receivers: list[str]


def resolve_deliveries(exp: Experiment, topo: Topology, round_index: int) -> list[ResolvedDelivery]:
    """The round's deliveries: the `deliveries` it lists, else the one of `model` from the
    source to its receivers (key ""). Random sets are seeded per round and delivery."""
    r = exp.rounds[round_index]
    if not r.deliveries:
        receivers = resolve_receivers(exp, topo, round_index)
        return [ResolvedDelivery("", "model", source_host(exp, topo), receivers)]
    out = []
    hosts = {h.name for h in topo.hosts}
    for i, d in enumerate(r.deliveries):
        where = f"rounds[{round_index}].deliveries[{i}]"
        src = d.source or source_host(exp, topo)
        if src not in hosts:
            raise SpecError(f"{where}.source: no host {src!r} in topology {topo.name!r}")
        rx = _resolve_set(d.receivers, topo, f"{where}.receivers", exp.seed + round_index + i)
        if src in rx:
            raise SpecError(f"{where}: its source {src} is also one of its receivers")
        out.append(ResolvedDelivery(d.model, d.model, src, rx))
    return out


def _resolve_set(sel: ReceiverSet, topo: Topology, where: str, default_seed: int) -> list[str]:
    gpus = [h.name for h in topo.gpu_hosts()]
    if not gpus:
        raise SpecError(f"topology {topo.name!r} has no GPU hosts")
    if sel == "all":
        return gpus
    if isinstance(sel, CloudsSet):
        clouds = {h.cloud for h in topo.gpu_hosts()}
        for i, c in enumerate(sel.clouds):
            if c not in clouds:
                raise SpecError(f"{where}.clouds[{i}]: no GPU cloud {c!r} (have {sorted(clouds)})")
        wanted = set(sel.clouds)
        return [h.name for h in topo.gpu_hosts() if h.cloud in wanted]
    if isinstance(sel, HostsSet):
        for i, h in enumerate(sel.hosts):
            if h not in gpus:
                raise SpecError(f"{where}.hosts[{i}]: {h!r} is not a GPU host")
        wanted = set(sel.hosts)
        return [h for h in gpus if h in wanted]
    seed = sel.seed if sel.seed is not None else default_seed
    if isinstance(sel, FractionSet):
        n = max(1, round(sel.fraction * len(gpus)))
    else:
        if sel.count > len(gpus):
            raise SpecError(f"{where}.count: {sel.count} but only {len(gpus)} GPU hosts")
        n = sel.count
    chosen = set(random.Random(seed).sample(gpus, n))
    return [h for h in gpus if h in chosen]


def membership_changes(
    exp: Experiment, topo: Topology, round_index: int
) -> list[tuple[float, str, str]]:
    """The round's joins and leaves as (at, "join" | "leave", host), in time order, checked
    against the round's receivers: a joiner is a GPU host that has not received in the round
    yet, a leaver one that receives at that moment."""
    members = set(resolve_receivers(exp, topo, round_index))
    seen = set(members)
    gpus = {h.name for h in topo.gpu_hosts()}
    changes = exp.rounds[round_index].changes
    out = []
    for i in sorted(range(len(changes)), key=lambda k: changes[k].at):
        c = changes[i]
        where = f"rounds[{round_index}].changes[{i}]"
        if isinstance(c, Join):
            if c.join not in gpus:
                raise SpecError(f"{where}.join: {c.join!r} is not a GPU host")
            if c.join in members:
                raise SpecError(f"{where}.join: {c.join} receives already at {c.at} s")
            if c.join in seen:
                raise SpecError(f"{where}.join: {c.join} left earlier in the round")
            members.add(c.join)
            seen.add(c.join)
            out.append((c.at, "join", c.join))
        else:
            if c.leave not in members:
                raise SpecError(f"{where}.leave: {c.leave!r} does not receive at {c.at} s")
            members.discard(c.leave)
            out.append((c.at, "leave", c.leave))
    return out


def check_against(exp: Experiment, topo: Topology) -> None:
    """Names in rounds and failures must exist in the topology."""
    source_host(exp, topo)
    for i in range(len(exp.rounds)):
        membership_changes(exp, topo, i)
        resolve_deliveries(exp, topo, i)
    links = {frozenset((lk.a, lk.b)) for lk in topo.links}
    switches = {s.name for s in topo.switches}
    for i, f in enumerate(exp.failures):
        if isinstance(f, SwitchDown):
            if f.switch not in switches:
                raise SpecError(f"failures[{i}].switch: no switch {f.switch!r}")
        else:
            name = f.link if isinstance(f, LinkDown) else f.flap
            field = "link" if isinstance(f, LinkDown) else "flap"
            ends = link_ends(name, topo)
            if ends is None or frozenset(ends) not in links:
                raise SpecError(f"failures[{i}].{field}: no link {name!r} in {topo.name!r}")


def link_ends(name: str, topo: Topology) -> tuple[str, str] | None:
    """The two ends of a link named 'a-b' (either order), or None."""
    nodes = {s.name for s in topo.switches} | {h.name for h in topo.hosts}
    for lk in topo.links:
        if name in (f"{lk.a}-{lk.b}", f"{lk.b}-{lk.a}"):
            return lk.a, lk.b
    parts = name.split("-")
    if len(parts) == 2 and all(p in nodes for p in parts):
        return parts[0], parts[1]
    return None
