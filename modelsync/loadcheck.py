"""Cold-start proxy: open every safetensors shard and read every tensor header."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

# safe_open(framework="numpy") imports numpy on its first use: 0.14 s of CPU that 128
# receivers forked from one server (modelsync.forkstart) would each pay again
import numpy  # noqa: F401
from safetensors import safe_open

INDEX_NAME = "model.safetensors.index.json"


@dataclass(frozen=True)
class LoadResult:
    tensors: int
    seconds: float
    loadable_at: float


def load_check(model_dir: Path, names: list[str] | None = None) -> LoadResult:
    """Read dtype and shape of every tensor of every shard; with an index file, check that
    every tensor it maps is in the shard it names. Raises ValueError on any inconsistency."""
    model_dir = Path(model_dir)
    t0 = time.monotonic()
    shards = sorted(
        n for n in (names or [p.name for p in model_dir.iterdir()]) if n.endswith(".safetensors")
    )
    if not shards:
        raise ValueError(f"{model_dir}: no safetensors shard to load")
    keys: dict[str, set[str]] = {}
    tensors = 0
    for name in shards:
        try:
            with safe_open(str(model_dir / name), framework="numpy") as f:
                ks = set(f.keys())
                for k in ks:
                    sl = f.get_slice(k)
                    sl.get_shape()
                    sl.get_dtype()
                    tensors += 1
        except Exception as e:  # safetensors raises its own error types
            raise ValueError(f"{model_dir / name}: not loadable: {e}") from None
        keys[name] = ks
    index = model_dir / INDEX_NAME
    if index.is_file():
        wm = json.loads(index.read_text()).get("weight_map", {})
        for tensor, shard in wm.items():
            if tensor not in keys.get(shard, set()):
                raise ValueError(f"{index}: {tensor} is mapped to {shard}, which lacks it")
    return LoadResult(tensors, time.monotonic() - t0, time.time())
