"""Every command line of the project in one style: argparse (no typer, no click), a `parser()`
per command module, `prog` as the user types it, the module's docstring kept as written, a
help text for every argument; softswitch's options keep simple_switch_grpc's names."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the product's packages and bench/, whose modules are commands (python -m bench.NAME)
PACKAGES = sorted({p.parent.name for p in ROOT.glob("*/__init__.py")} | {"bench"})
# run as a file inside the routers' namespaces, where the project is not importable
STANDALONE = {"pimsm.probe": "probe.py"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield _module_name(path), ast.parse(path.read_text(), str(path))


def _parser_factories() -> tuple[list[tuple[str, str]], list[str]]:
    """(module, function) for every module-level `parser()` or `*_parser()` that builds an
    ArgumentParser; and the modules that build one elsewhere."""
    found, stray = [], []
    for mod, tree in _sources():
        if "ArgumentParser(" not in ast.unparse(tree):
            continue
        funcs = [
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef)
            and (n.name == "parser" or n.name.endswith("_parser"))
            and "ArgumentParser(" in ast.unparse(n)
        ]
        if not funcs:
            stray.append(mod)
        found += [(mod, f) for f in funcs]
    return found, stray


FACTORIES, STRAY = _parser_factories()


def test_every_parser_is_built_by_a_parser_function() -> None:
    assert STRAY == [], f"modules that build a parser outside a parser() function: {STRAY}"


def _walk(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                yield from _walk(sub)


def test_every_command_module_is_found() -> None:
    mods = {m for m, _ in FACTORIES}
    assert {
        "experiments.__main__", "experiments.net", "experiments.fail", "experiments.cleanup",
        "experiments.report", "experiments.projection.cli", "modelsync.cli", "pimsm.__main__",
        "pimsm.probe", "softswitch.cli", "softswitch.compile", "softswitch.build_all",
        "topologies.__main__", "controlplane.shell", "testbed.rate", "bench.__main__",
    } <= mods  # fmt: skip
    assert len([m for m in mods if m.startswith("bench.")]) >= 6


@pytest.mark.parametrize(("module", "factory"), FACTORIES, ids=[f"{m}:{f}" for m, f in FACTORIES])
def test_help_is_in_one_style(module: str, factory: str) -> None:
    top = getattr(importlib.import_module(module), factory)()
    for p in _walk(top):
        where = f"{module}:{factory} ({p.prog})"
        if module in STANDALONE:
            assert p.prog == STANDALONE[module], where
        else:
            words = p.prog.split()
            assert words[:2] == ["python", "-m"], f"{where}: prog is not `python -m MODULE`"
            assert importlib.util.find_spec(words[2]) is not None, f"{where}: no such module"
            assert p is top or p.prog.startswith(top.prog + " "), where
        assert p.description and p.description.strip(), f"{where}: no description"
        assert issubclass(p.formatter_class, argparse.RawDescriptionHelpFormatter), (
            f"{where}: the description would be reflowed"
        )
        for a in p._actions:
            if isinstance(a, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if a.help == argparse.SUPPRESS:
                continue  # accepted for compatibility, deliberately not shown
            assert a.help and a.help.strip(), f"{where}: {a.option_strings or a.dest} has no help"
        assert p.format_help().startswith(f"usage: {p.prog}")


def test_one_command_line_library() -> None:
    other = {"typer", "click", "docopt", "fire"}
    used = []
    for mod, tree in _sources():
        for n in ast.walk(tree):
            names = (
                [a.name for a in n.names]
                if isinstance(n, ast.Import)
                else [n.module or ""]
                if isinstance(n, ast.ImportFrom)
                else []
            )
            used += [(mod, x) for x in names if x.split(".")[0] in other]
    assert used == []
    deps = (ROOT / "pyproject.toml").read_text()
    assert not [x for x in other if f'"{x}=' in deps]


def test_a_subcommand_of_experiments_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["summary", "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m experiments summary [-h] results")


# simple_switch_grpc's options as docs/contracts.md and the p4lang tutorials use them, under
# the same names in softswitch; then softswitch's own
SIMPLE_SWITCH_GRPC = {
    "--device-id", "-i", "--interface", "--grpc-server-addr", "--cpu-port", "--log-level",
    "-L", "--log-file", "--log-console", "--pcap", "--no-p4", "--thrift-port", "--nanolog",
    "--debugger",
}  # fmt: skip
SOFTSWITCH_ONLY = {
    "--port-status-register", "--bfd-port", "--bfd-interval-ms", "--bfd-multiplier", "--backend",
}  # fmt: skip


def test_softswitch_takes_simple_switch_grpc_options_by_their_names() -> None:
    from softswitch.cli import parser

    options = {s for a in parser()._actions for s in a.option_strings} - {"-h", "--help"}
    assert options == SIMPLE_SWITCH_GRPC | SOFTSWITCH_ONLY


@pytest.mark.bmv2
def test_simple_switch_grpc_has_the_options_softswitch_mirrors() -> None:
    exe = shutil.which("simple_switch_grpc")
    assert exe is not None
    text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    listed = text.stdout + text.stderr
    # --debugger exists only in a BMv2 configured with --enable-debugger (1.15.5's default
    # build, as the p4lang packages, has none); every other option is always there
    missing = [o for o in sorted(SIMPLE_SWITCH_GRPC - {"--debugger"}) if o not in listed]
    assert missing == [], f"simple_switch_grpc --help does not list {missing}"
