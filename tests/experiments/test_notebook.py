"""The notebook runs on a small results folder and writes its figures.

This one needs no network: the folder is the flow model's output for experiments/default.yaml,
written through the same writers and labelled `kind: projection` in environment.json:
projection data, never presented as a measurement. The notebook on a measured folder:
test_run_e2e.py::test_notebook_executes_on_the_measured_folder."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from experiments.projection import project, write_projection
from experiments.spec import load_experiment
from experiments.validation import predict_beside

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_notebook_executes_on_a_projection_folder(tmp_path, monkeypatch) -> None:
    exp = load_experiment(ROOT / "experiments" / "default.yaml")
    folder = write_projection(project(exp, base=ROOT), tmp_path / "results")
    predict_beside(folder)
    scale = load_experiment(ROOT / "experiments" / "scenarios" / "scale-16.yaml")
    write_projection(project(scale, base=ROOT), tmp_path / "projections")
    figs = tmp_path / "figs"
    monkeypatch.setenv("RESULTS_DIR", str(folder))
    monkeypatch.setenv("FIGURES_DIR", str(figs))
    monkeypatch.setenv("PROJECTIONS_DIR", str(tmp_path / "projections"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    nb = nbformat.read(ROOT / "notebooks" / "analysis.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()

    assert json.loads((folder / "environment.json").read_text())["kind"] == "projection"
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "PROJECTION (flow model): nothing here was measured" in text
    assert "scale-16" in text and "[PROJECTION]" in text
    # the prediction beside a projection agrees with itself exactly
    assert "completion time within 0.0%" in text
    for name in (
        "completion_cdf",
        "link_bytes_map",
        "state_per_switch",
        "failure_timeline",
        "new_set_cost",
        "predicted_vs_measured",
    ):
        png = figs / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not (figs / "sweep.png").exists()  # the default has no sweep
    # nor several models at once, nor joiners and leavers
    assert not (figs / "model_bytes.png").exists()
    assert not (figs / "membership_timeline.png").exists()
