"""`python -m softswitch.build_all --out build` (what `make p4` runs): compile every P4 program
in p4src/ for both targets and check that they expose the same P4Runtime interface.

- softswitch, always: `python -m softswitch.compile` -> build/softswitch/NAME.{json,p4info.txtpb}
- BMv2, when p4c-bm2-ss is on PATH: p4c -> build/bmv2/NAME.{json,p4info.txtpb}; then both
  P4Infos must list the same tables (match fields, widths, match kinds, actions, sizes),
  actions (parameters and widths), counters, meters, registers and packet-in/out headers.

This module only shells out to the compilers; it never compiles anything itself.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from finsy.proto import p4i
from google.protobuf import json_format, text_format

P4C = "p4c-bm2-ss"
TARGETS = ("softswitch", "bmv2")
# A file is a program (not an include) when it instantiates the v1model package `main`.
_MAIN = re.compile(r"\)\s*main\s*;")


class BuildError(Exception):
    """A build step that failed: which program, which compiler, and its message."""


@dataclass(frozen=True)
class Outputs:
    """Where one program's artefacts for one target go."""

    p4info: Path
    device_config: Path


SOURCES_STAMP = ".sources.sha256"  # in the output root: what the artefacts were built from
_PACKAGE = Path(__file__).resolve().parent


def sources_digest(
    src_dir: Path, defines: dict[str, str] | None = None, include_dirs: Sequence[Path] = ()
) -> str:
    """sha256 of everything the artefacts depend on: the P4 sources and includes, softswitch's
    own compiler (its JSON is ours), the definitions, and p4c's version when p4c is on PATH.
    A build/ whose stamp differs is stale, even when every file is there."""
    h = hashlib.sha256()
    files = sorted(src_dir.glob("*.p4"))
    for d in include_dirs:
        files += sorted(Path(d).glob("*.p4"))
    files += sorted((_PACKAGE / "p4include").glob("*.p4"))
    files += [*sorted((_PACKAGE / "core").glob("*.py")), _PACKAGE / "compile.py"]
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(repr(sorted((defines or {}).items())).encode())
    if shutil.which(P4C):
        r = subprocess.run([P4C, "--version"], capture_output=True, text=True, check=False)
        h.update(r.stdout.encode())
    return h.hexdigest()


def is_current(src_dir: Path, out_dir: Path) -> bool:
    """Whether out_dir was built by a successful run from the sources as they are now."""
    stamp = out_dir / SOURCES_STAMP
    return stamp.is_file() and stamp.read_text().strip() == sources_digest(src_dir)


def find_programs(src_dir: Path) -> list[Path]:
    """The .p4 files in src_dir that are whole programs (include files are skipped)."""
    if not src_dir.is_dir():
        raise BuildError(f"{src_dir}: no such directory (expected the P4 sources)")
    programs = [p for p in sorted(src_dir.glob("*.p4")) if _MAIN.search(p.read_text())]
    if not programs:
        raise BuildError(f"{src_dir}: no P4 program (no .p4 file instantiates `main`)")
    return programs


def outputs(program: Path, out_dir: Path, target: str) -> Outputs:
    if target not in TARGETS:
        raise BuildError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")
    base = out_dir / target / program.stem
    return Outputs(
        p4info=base.with_suffix(".p4info.txtpb"), device_config=base.with_suffix(".json")
    )


def _define_args(defines: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in sorted(defines.items()):
        args += ["-D", f"{name}={value}" if value != "" else name]
    return args


def p4c_command(
    program: Path, out: Outputs, defines: dict[str, str], include_dirs: Sequence[Path] = ()
) -> list[str]:
    """The p4c-bm2-ss command line that writes BMv2 JSON and a text P4Info."""
    cmd = [P4C, "--arch", "v1model", "--std", "p4-16"]
    for d in include_dirs:
        cmd += ["-I", str(d)]
    cmd += _define_args(defines)
    cmd += ["--p4runtime-files", str(out.p4info), "-o", str(out.device_config), str(program)]
    return cmd


def softswitch_command(
    program: Path,
    out: Outputs,
    defines: dict[str, str],
    include_dirs: Sequence[Path] = (),
    python: str = sys.executable,
) -> list[str]:
    """The `python -m softswitch.compile` command line (same -D/-I flags as p4c)."""
    cmd = [python, "-m", "softswitch.compile", str(program)]
    for d in include_dirs:
        cmd += ["-I", str(d)]
    cmd += _define_args(defines)
    cmd += ["--p4info", str(out.p4info), "--device-config", str(out.device_config)]
    return cmd


def load_p4info(path: Path) -> p4i.P4Info:
    """Read a P4Info in text (.txt, .txtpb), JSON (.json) or binary (.bin, .pb) format."""
    info = p4i.P4Info()
    try:
        if path.suffix in (".txt", ".txtpb", ".pbtxt"):
            text_format.Parse(path.read_text(), info)
        elif path.suffix == ".json":
            json_format.Parse(path.read_text(), info)
        elif path.suffix in (".bin", ".pb"):
            info.ParseFromString(path.read_bytes())
        else:
            raise BuildError(f"{path}: unknown P4Info format (use .txtpb, .json or .bin)")
    except OSError as e:
        raise BuildError(f"{path}: cannot read P4Info: {e.strerror}") from e
    except (text_format.ParseError, json_format.ParseError) as e:
        raise BuildError(f"{path}: not a valid P4Info: {e}") from e
    return info


def summarize(info: p4i.P4Info) -> dict[str, dict[str, object]]:
    """Everything the control plane depends on, keyed by kind and fully qualified name
    (ids are left out: each target may number entities its own way)."""
    ids = {a.preamble.id: a.preamble.name for a in info.actions}
    out: dict[str, dict[str, object]] = {k: {} for k in _KINDS}
    for t in info.tables:
        out["table"][t.preamble.name] = {
            "match fields": [
                (m.name, m.bitwidth, p4i.MatchField.MatchType.Name(m.match_type))
                for m in t.match_fields
            ],
            "actions": sorted(ids.get(r.id, f"<id {r.id}>") for r in t.action_refs),
            "size": t.size,
        }
    for a in info.actions:
        out["action"][a.preamble.name] = [(p.name, p.bitwidth) for p in a.params]
    for c in info.counters:
        out["counter"][c.preamble.name] = (p4i.CounterSpec.Unit.Name(c.spec.unit), c.size)
    for c in info.direct_counters:
        out["direct counter"][c.preamble.name] = p4i.CounterSpec.Unit.Name(c.spec.unit)
    for m in info.meters:
        out["meter"][m.preamble.name] = (p4i.MeterSpec.Unit.Name(m.spec.unit), m.size)
    for r in info.registers:
        out["register"][r.preamble.name] = (r.type_spec.bitstring.bit.bitwidth, r.size)
    for h in info.controller_packet_metadata:
        out["controller header"][h.preamble.name] = [(f.name, f.bitwidth) for f in h.metadata]
    return out


_KINDS = (
    "table",
    "action",
    "counter",
    "direct counter",
    "meter",
    "register",
    "controller header",
)


def compare_p4info(
    a: p4i.P4Info, b: p4i.P4Info, names: tuple[str, str] = ("bmv2", "softswitch")
) -> list[str]:
    """The differences between two P4Infos, one sentence each; empty when they agree."""
    sa, sb = summarize(a), summarize(b)
    diffs: list[str] = []
    for kind in _KINDS:
        for name in sorted(set(sa[kind]) | set(sb[kind])):
            if name not in sb[kind]:
                diffs.append(f"{kind} {name}: only in {names[0]}")
            elif name not in sa[kind]:
                diffs.append(f"{kind} {name}: only in {names[1]}")
            else:
                diffs += _compare_entity(kind, name, sa[kind][name], sb[kind][name], names)
    return diffs


def _compare_entity(
    kind: str, name: str, x: object, y: object, names: tuple[str, str]
) -> list[str]:
    if x == y:
        return []
    if isinstance(x, dict) and isinstance(y, dict):
        return [
            f"{kind} {name}: {part} {x.get(part)!r} ({names[0]}) != {y.get(part)!r} ({names[1]})"
            for part in x
            if x.get(part) != y.get(part)
        ]
    return [f"{kind} {name}: {x!r} ({names[0]}) != {y!r} ({names[1]})"]


def _run(cmd: list[str], what: str) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise BuildError(f"{what}: cannot run {cmd[0]}: {e.strerror}") from e
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip()
        raise BuildError(f"{what} failed (exit {r.returncode}):\n{msg}")


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"cannot create the output folder {path}: {e.strerror}.") from e


def build_program(
    program: Path,
    out_dir: Path,
    defines: dict[str, str],
    include_dirs: Sequence[Path] = (),
    use_p4c: bool | None = None,
) -> list[str]:
    """Compile one program for softswitch (and BMv2 when p4c is there); return the
    P4Info differences between the two targets (empty when only softswitch ran)."""
    if use_p4c is None:
        use_p4c = shutil.which(P4C) is not None
    ss = outputs(program, out_dir, "softswitch")
    _mkdir(ss.p4info.parent)
    _run(softswitch_command(program, ss, defines, include_dirs), f"softswitch.compile {program}")
    if not use_p4c:
        return []
    bm = outputs(program, out_dir, "bmv2")
    _mkdir(bm.p4info.parent)
    _run(p4c_command(program, bm, defines, include_dirs), f"{P4C} {program}")
    return compare_p4info(load_p4info(bm.p4info), load_p4info(ss.p4info))


def _parse_defines(items: Iterable[str]) -> dict[str, str]:
    defines: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise BuildError(f"-D {item!r}: not NAME or NAME=VALUE")
        defines[name] = value
    return defines


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m softswitch.build_all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--src", type=Path, default=Path("p4src"), help="P4 sources (p4src)")
    ap.add_argument("--out", type=Path, default=Path("build"), help="output root (build)")
    ap.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="preprocessor definition, for both compilers",
    )
    ap.add_argument(
        "-I",
        dest="includes",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="extra include directory, for both compilers",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    have_p4c = shutil.which(P4C) is not None
    if not have_p4c:
        print(f"build_all: {P4C} not on PATH: softswitch only (BMv2 is built in the vagrant/ VM)")
    failed = False
    try:
        defines = _parse_defines(args.defines)
        programs = find_programs(args.src)
    except BuildError as e:
        print(f"build_all: error: {e}", file=sys.stderr)
        return 2
    for program in programs:
        try:
            diffs = build_program(program, args.out, defines, args.includes, have_p4c)
        except BuildError as e:
            print(f"build_all: error: {e}", file=sys.stderr)
            failed = True
            continue
        targets = "softswitch, bmv2" if have_p4c else "softswitch"
        if diffs:
            failed = True
            print(f"build_all: {program}: P4Info of bmv2 and softswitch differ:", file=sys.stderr)
            for d in diffs:
                print(f"  {d}", file=sys.stderr)
        else:
            same = " (same P4Info)" if have_p4c else ""
            print(f"build_all: {program}: {targets}{same} -> {args.out}/")
    stamp = args.out / SOURCES_STAMP
    try:
        if failed:
            stamp.unlink(missing_ok=True)
        elif not args.includes and not defines:  # the stamp describes the default build only
            stamp.write_text(sources_digest(args.src) + "\n")
    except OSError as e:  # the build's own error, if any, was reported above
        print(f"build_all: cannot update {stamp}: {e.strerror}.", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
