"""The synthetic model: HF layout, loadable with safetensors, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from modelsync.loadcheck import load_check
from modelsync.makemodel import make_model, split_shards
from modelsync.manifest import MANIFEST_NAME, build_manifest, load_manifest, sha256_file
from modelsync.sizes import parse_size


def test_layout_and_loadable(tmp_path: Path) -> None:
    m = make_model(tmp_path / "m", parse_size("2MB"), 3, seed=5, dtype="fp16")
    d = tmp_path / "m"
    shards = sorted(p.name for p in d.glob("*.safetensors"))
    assert shards == [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    index = json.loads((d / "model.safetensors.index.json").read_text())
    config = json.loads((d / "config.json").read_text())
    seen: dict[str, str] = {}
    total = 0
    for name in shards:
        with safe_open(str(d / name), framework="numpy") as f:
            for k in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                t = f.get_tensor(k)
                assert t.dtype == np.float16
                total += t.nbytes
                seen[k] = name
                if k.endswith("norm.weight"):
                    assert abs(float(t.astype(np.float32).mean()) - 1.0) < 0.05
                else:
                    assert 0.01 < float(t.astype(np.float32).std()) < 0.03
    assert seen == index["weight_map"]
    assert index["metadata"]["total_size"] == total
    h = config["hidden_size"]
    assert seen["model.embed_tokens.weight"] == shards[0]
    assert seen["lm_head.weight"] == shards[-1]
    q, up = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"
    with safe_open(str(d / seen[q]), framework="numpy") as f:
        assert f.get_slice(q).get_shape() == [h, h]
    with safe_open(str(d / seen[up]), framework="numpy") as f:
        assert f.get_slice(up).get_shape() == [config["intermediate_size"], h]
    # manifest: every file, sizes and digests right, 0.8x..1.1x the size asked for
    assert [f.name for f in m.files] == sorted(
        p.name for p in d.iterdir() if p.name != MANIFEST_NAME
    )
    for f in m.files:
        assert sha256_file(d / f.name) == f.sha256 and (d / f.name).stat().st_size == f.size
    assert 0.8 * 2e6 < m.total_size < 1.1 * 2e6
    assert load_manifest(d / MANIFEST_NAME) == m
    assert load_check(d).tensors == len(seen)


def test_deterministic_and_seeded(tmp_path: Path) -> None:
    a = make_model(tmp_path / "a", 1_000_000, 2, seed=1)
    b = make_model(tmp_path / "b", 1_000_000, 2, seed=1)
    c = make_model(tmp_path / "c", 1_000_000, 2, seed=2)
    assert [f.sha256 for f in a.files] == [f.sha256 for f in b.files]
    assert a.model_id == b.model_id != c.model_id
    assert a.files[1].sha256 != c.files[1].sha256  # shard 1 of seed 1 vs seed 2


def test_bf16_is_the_upper_half_of_float32(tmp_path: Path) -> None:
    make_model(tmp_path / "m", 200_000, 1, dtype="bf16")
    shard = tmp_path / "m" / "model-00001-of-00001.safetensors"
    with safe_open(str(shard), framework="numpy") as f:
        sl = f.get_slice("model.norm.weight")
        assert sl.get_dtype() == "BF16"
    raw = shard.read_bytes()
    hlen = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + hlen])
    b, e = header["model.norm.weight"]["data_offsets"]
    u16 = np.frombuffer(raw[8 + hlen + b : 8 + hlen + e], dtype="<u2")
    vals = (u16.astype(np.uint32) << 16).view(np.float32)
    assert abs(float(vals.mean()) - 1.0) < 0.01  # norms are ~1.0


def test_existing_directory_gets_a_manifest(tmp_path: Path) -> None:
    make_model(tmp_path / "m", 300_000, 2)
    (tmp_path / "m" / MANIFEST_NAME).unlink()
    (tmp_path / "m" / "README.md").write_text("hello\n")
    m = build_manifest(tmp_path / "m")
    assert "README.md" in [f.name for f in m.files]
    assert load_manifest(tmp_path / "m") == m  # a directory works as manifest source
    with pytest.raises(ValueError, match=r"no \*\.safetensors"):
        build_manifest(tmp_path)


def test_bad_manifest_is_named(tmp_path: Path) -> None:
    m = make_model(tmp_path / "m", 300_000, 2)
    p = tmp_path / "bad.json"
    p.write_text(m.model_dump_json().replace(m.files[0].sha256, "0" * 64))
    with pytest.raises(ValueError, match=r"bad\.json: manifest model_id"):
        load_manifest(p)
    p.write_text(m.model_dump_json().replace(m.files[0].name, "../evil"))
    with pytest.raises(ValueError, match="plain name"):
        load_manifest(p)


def test_sizes_and_split() -> None:
    assert parse_size("64MB") == 64_000_000 and parse_size("16MiB") == 16 << 20
    assert parse_size("4096") == 4096
    with pytest.raises(ValueError, match="'12XB'"):
        parse_size("12XB")
    groups = split_shards([10, 10, 10, 10, 1, 1], 3)
    assert len(groups) == 3 and [i for g in groups for i in g] == list(range(6))
    with pytest.raises(ValueError, match="2 tensors cannot fill 3"):
        split_shards([1, 1], 3)


def test_the_command_line_takes_the_descriptions_sizes(tmp_path: Path) -> None:
    """One parser: a size the experiment description accepts, in TB, makes a model here."""
    from experiments.spec import ModelSpec
    from modelsync.cli import main

    assert ModelSpec(size="0.0000005TB").size == 500_000
    out = tmp_path / "m"
    assert main(["make-model", "--out", str(out), "--size", "0.0000005TB"]) == 0
    m = load_manifest(out / "modelsync.manifest.json")
    weights = sum(f.size for f in m.files if f.name.endswith(".safetensors"))
    assert 0.9 * 500_000 < weights < 1.1 * 500_000
