"""The repository's own layout and setup contract."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "package",
    [
        "softswitch",
        "controlplane",
        "topologies",
        "modelsync",
        "experiments",
        "wire",
        "testbed",
        "pimsm",
    ],
)
def test_python_parts_import(package: str) -> None:
    assert importlib.import_module(package).__file__ is not None


def _setup_key() -> str:
    """The stamp key exactly as scripts/setup.sh computes it: sha256 of its DEP_FILES, cat'ed."""
    text = (ROOT / "scripts" / "setup.sh").read_text()
    files = re.search(r"^DEP_FILES=\(([^)]*)\)", text, re.M)
    assert files, "scripts/setup.sh: DEP_FILES=(...) not found"
    return hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in files[1].split())).hexdigest()


def test_setup_is_skipped_when_nothing_changed(tmp_path: Path) -> None:
    # A venv whose stamp holds the key of the current dependency files, made with the Python
    # asked for and given Mininet, is left alone.
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / "debian-mininet" / "mininet").mkdir(parents=True)
    (venv / ".setup-stamp").write_text(_setup_key() + "\n")
    out = subprocess.run(
        ["bash", "scripts/setup.sh", "--pip-only"],
        cwd=ROOT,
        env={**os.environ, "VENV": str(venv), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"setup: up to date ({venv})"


def test_setup_left_its_stamp() -> None:
    # The suite itself runs after `make setup` or `make setup-pip` (CI: `make test`), in the
    # venv they made, so its stamp is the key of the current dependency files and a second
    # setup finds it. A dependency file edited after the last setup (a dev tree) is the one
    # case where the stamp is rightly stale.
    venv = Path(sys.prefix)
    if not venv.is_relative_to(ROOT):
        pytest.skip(f"the suite runs in {venv}, not in a venv of this checkout")
    stamp = venv / ".setup-stamp"
    assert stamp.is_file(), f"no {stamp}: run `make setup`"
    edited = [
        f
        for f in ("pyproject.toml", "scripts/setup.sh")
        if (ROOT / f).stat().st_mtime_ns > stamp.stat().st_mtime_ns
    ]
    if edited:
        assert os.environ.get("CI") != "true", f"{edited} changed after setup ran in CI"
        pytest.skip(f"{', '.join(edited)} edited after the last `make setup`: run it again")
    assert stamp.read_text().strip() == _setup_key()
    name = str(venv.relative_to(ROOT))
    out = subprocess.run(
        ["bash", "scripts/setup.sh", "--pip-only"],
        cwd=ROOT,
        env={**os.environ, "VENV": name, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"setup: up to date ({name})"


# What a reader of the repository cannot follow: the number of an issue of the tracker, or a
# single capital letter standing for a person or a part of the work (a "helper" and a letter).
UNFOLLOWABLE = re.compile(r"\bissues? ?#?\d+\b|\bhelpers? [A-Z]\b", re.IGNORECASE)


def test_no_reference_a_reader_cannot_follow() -> None:
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"not a git checkout: {r.stderr.strip()}")
    hits = []
    for name in r.stdout.splitlines():
        path = ROOT / name
        if name.startswith("tests/fixtures/") or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        for n, line in enumerate(text.splitlines(), 1):
            if UNFOLLOWABLE.search(line):
                hits.append(f"{name}:{n}: {line.strip()}")
    assert hits == [], "\n".join(hits)
