"""The repository's own layout and setup contract."""

from __future__ import annotations

import importlib
import subprocess
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


def test_setup_is_skipped_when_nothing_changed() -> None:
    # The suite itself runs after `make setup`, so a second setup must find its stamp.
    out = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "setup: up to date (.venv)"
