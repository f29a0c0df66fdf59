"""The switches' and port agents' logs of a run, in its results folder (`logs/`).

The network writes them there while the run goes, so that a crash or Ctrl-C leaves them in
place. At the end they are removed when every GPU host verified the model in every round,
and kept when one did not, when the run stopped early, or with MCAST_KEEP_LOGS=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.results import ResultsWriter, sweep_label

FOLDER = "logs"


def log_dir(out: Path, sweep_value: Any) -> Path:
    """Where one sweep point's network writes its switch and port-agent logs."""
    base = out / FOLDER
    return base if sweep_value is None else base / sweep_label(sweep_value)


def unverified(writer: ResultsWriter) -> int:
    """How many (receiver, round) rows of the run did not end with a verified model."""
    parts = [df for df in writer.tables.get("receivers", []) if len(df)]
    if not parts:
        return 0
    rows = pd.concat(parts, ignore_index=True)
    if "left_s" in rows:  # a receiver that left mid-round has no model to verify
        rows = rows[rows["left_s"].isna()]
    verified = rows["verified"].astype("boolean")
    return int((~verified.fillna(False)).sum())  # NA (no verdict) counts as not verified


def settle(out: Path, writer: ResultsWriter, finished: bool) -> str | None:
    """Keep or remove `out/logs/`; the sentence saying why they were kept (None: removed,
    or there were none)."""
    folder = out / FOLDER
    if not folder.is_dir():
        return None
    failed = unverified(writer)
    if os.environ.get("MCAST_KEEP_LOGS") == "1":
        why = "MCAST_KEEP_LOGS=1 asks for them"
    elif failed:
        rounds = "round of a GPU host" if failed == 1 else "rounds of GPU hosts"
        why = f"{failed} {rounds} ended without a verified model"
    elif not finished:
        why = "the run stopped before its end"
    else:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return f"The switches' and port agents' logs are kept in {folder} because {why}."
