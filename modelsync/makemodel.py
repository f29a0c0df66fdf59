"""Deterministic synthetic model in the layout of a Hugging Face safetensors checkpoint.

Llama-like tensors (embedding, per-layer q/k/v/o attention, gate/up/down MLP, RMS norms,
lm_head), sized to come close to a requested total, split over N shards, with
`model.safetensors.index.json`, `config.json` and a manifest. The safetensors files are
written directly (8-byte header length, JSON header, data) because numpy has no bfloat16.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelsync.manifest import MANIFEST_NAME, Manifest, build_manifest, write_manifest

DTYPES = {"bf16": ("BF16", "bfloat16"), "fp16": ("F16", "float16")}


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    vocab: int
    intermediate: int
    heads: int
    kv_heads: int


def choose_shape(total_bytes: int, shards: int) -> Shape:
    """Transformer dimensions whose 2-byte weights come close to total_bytes."""
    elems = total_bytes // 2
    hidden = 64
    for limit, h in ((1e6, 64), (4e6, 128), (32e6, 256), (256e6, 512), (2e9, 1024), (16e9, 2048)):
        if total_bytes < limit:
            hidden = h
            break
    else:
        hidden = 4096
    heads = max(1, hidden // 64)
    kv_heads = max(1, heads // 4)
    kv = kv_heads * 64
    inter = -(-int(hidden * 2.6875) // 32) * 32
    per_layer = 2 * hidden * hidden + 2 * kv * hidden + 3 * inter * hidden + 2 * hidden
    base_vocab = max(256, 16 * hidden)
    layers = max(1, (elems - 2 * base_vocab * hidden) // per_layer)
    # Enough tensors for the shards: 9 per layer plus 3.
    layers = max(layers, -(-(shards - 3) // 9))
    vocab = (elems - layers * per_layer - hidden) // (2 * hidden)
    vocab = max(256, vocab // 64 * 64)
    return Shape(hidden, layers, vocab, inter, heads, kv_heads)


def tensor_specs(s: Shape) -> list[tuple[str, tuple[int, ...]]]:
    kv = s.kv_heads * 64
    specs: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (s.vocab, s.hidden))]
    for i in range(s.layers):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", (s.hidden,)),
            (p + "self_attn.q_proj.weight", (s.hidden, s.hidden)),
            (p + "self_attn.k_proj.weight", (kv, s.hidden)),
            (p + "self_attn.v_proj.weight", (kv, s.hidden)),
            (p + "self_attn.o_proj.weight", (s.hidden, s.hidden)),
            (p + "post_attention_layernorm.weight", (s.hidden,)),
            (p + "mlp.gate_proj.weight", (s.intermediate, s.hidden)),
            (p + "mlp.up_proj.weight", (s.intermediate, s.hidden)),
            (p + "mlp.down_proj.weight", (s.hidden, s.intermediate)),
        ]
    specs += [("model.norm.weight", (s.hidden,)), ("lm_head.weight", (s.vocab, s.hidden))]
    return specs


def split_shards(sizes: list[int], shards: int) -> list[list[int]]:
    """Contiguous groups of tensor indices, about equal in bytes, exactly `shards` groups."""
    if shards < 1:
        raise ValueError("--shards must be at least 1")
    if len(sizes) < shards:
        raise ValueError(f"{len(sizes)} tensors cannot fill {shards} shards")
    target = sum(sizes) / shards
    groups: list[list[int]] = [[]]
    acc = 0
    for i, size in enumerate(sizes):
        left_tensors = len(sizes) - i
        left_groups = shards - len(groups)
        if (
            groups[-1]
            and left_groups > 0
            and (acc + size / 2 > target or left_tensors == left_groups)
        ):
            groups.append([])
            acc = 0
        groups[-1].append(i)
        acc += size
    return groups


def _values(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
    if name.endswith("norm.weight"):
        return 1.0 + 0.01 * rng.standard_normal(n, dtype=np.float32)
    return 0.02 * rng.standard_normal(n, dtype=np.float32)


def _to_bytes(x: np.ndarray, dtype: str) -> bytes:
    if dtype == "fp16":
        return x.astype("<f2").tobytes()
    u = x.astype(np.float32).view(np.uint32)
    # Round to nearest even on the 16 dropped bits.
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return r.astype("<u2").tobytes()


def write_safetensors(
    path: Path, tensors: list[tuple[str, tuple[int, ...], bytes]], st: str
) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, data in tensors:
        header[name] = {"dtype": st, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for _, _, data in tensors:
            f.write(data)


def make_model(
    out: Path, size: int, shards: int, seed: int = 0, dtype: str = "bf16", name: str | None = None
) -> Manifest:
    """Write the model into `out` (created) and return its manifest (also written there)."""
    if dtype not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: expected one of {sorted(DTYPES)}")
    if size < 4096:
        raise ValueError(f"--size {size} bytes is too small for a model (at least 4096)")
    st_dtype, torch_dtype = DTYPES[dtype]
    shape = choose_shape(size, shards)
    specs = tensor_specs(shape)
    sizes = [2 * int(np.prod(s)) for _, s in specs]
    groups = split_shards(sizes, shards)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    for k, group in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        tensors = []
        for i in group:
            tname, tshape = specs[i]
            rng = np.random.default_rng([seed, i])  # per tensor: same bytes whatever the split
            tensors.append((tname, tshape, _to_bytes(_values(rng, tname, sizes[i] // 2), dtype)))
            weight_map[tname] = fname
        write_safetensors(out / fname, tensors, st_dtype)
    index = {"metadata": {"total_size": sum(sizes)}, "weight_map": dict(sorted(weight_map.items()))}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "vocab_size": shape.vocab,
        "rms_norm_eps": 1e-5,
        "torch_dtype": torch_dtype,
        "tie_word_embeddings": False,
        "modelsync_seed": seed,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    manifest = build_manifest(out, name=name or f"synthetic-{size}-{dtype}-s{seed}")
    write_manifest(manifest, out / MANIFEST_NAME)
    return manifest
