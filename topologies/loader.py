"""Read and write topology YAML files.

A bad file fails with a `TopologyError` whose text names the file, the path of the bad field
and why, e.g. ``topo.yaml: links[3].bw_mbit: must be > 0``; broken YAML names line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from topologies.model import Topology


class TopologyError(ValueError):
    """A topology file that cannot be used. `problems` holds (field path, reason) pairs."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [
            f"{file}: {where}: {why}" if where else f"{file}: {why}" for where, why in problems
        ]
        super().__init__("\n".join(lines))


def load(path: str | Path) -> Topology:
    """Parse and validate a topology file."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise TopologyError(name, [("", f"cannot read: {e.strerror or e}")]) from None
    return loads(text, name)


def loads(text: str, name: str = "<string>") -> Topology:
    """Parse and validate topology YAML text; `name` is used in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        what = e.problem or e.context or "malformed"
        raise TopologyError(where, [("", f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as e:
        raise TopologyError(name, [("", f"invalid YAML: {e}")]) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise TopologyError(name, [("", f"the top level must be a mapping, got {got}")])
    return from_dict(data, name)


def from_dict(data: dict[str, Any], name: str = "<dict>") -> Topology:
    try:
        return Topology.model_validate(data)
    except ValidationError as e:
        raise TopologyError(name, [_describe(err) for err in e.errors()]) from None


def dump(data: dict[str, Any] | Topology, path: str | Path | None = None) -> str:
    """YAML text of a topology (a plain dict as a generator builds it, or a model). Writes it
    to `path` when given."""
    if isinstance(data, Topology):
        hosts = {h.name for h in data.hosts}
        data = data.model_dump(mode="json", exclude_none=True)
        for link in data["links"]:  # a host end's port 0 (its eth0) is implied, not written
            for end in ("a", "b"):
                if link[end] in hosts:
                    link.pop(f"{end}_port", None)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _num(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _describe(err: Any) -> tuple[str, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = _loc(err["loc"])
    reasons = {
        "greater_than": lambda: f"must be > {_num(ctx.get('gt'))}",
        "greater_than_equal": lambda: f"must be >= {_num(ctx.get('ge'))}",
        "less_than": lambda: f"must be < {_num(ctx.get('lt'))}",
        "less_than_equal": lambda: f"must be <= {_num(ctx.get('le'))}",
        "missing": lambda: "required field is missing",
        "extra_forbidden": lambda: "unknown field",
        "string_pattern_mismatch": lambda: f"must match {ctx.get('pattern')}",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "ip_v4_address": lambda: "must be an IPv4 address",
    }
    if kind in reasons:
        return loc, reasons[kind]()
    msg = str(err.get("msg", kind))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return loc, msg
