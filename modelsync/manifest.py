"""The manifest: every file of a model with its size and sha256, and the model id.

The model id is the first 8 bytes of sha256 over the canonical file list, so it names the
exact bytes being delivered: a receiver that expects one model discards datagrams of another.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

MANIFEST_NAME = "modelsync.manifest.json"
FORMAT = "modelsync-manifest/1"


class FileEntry(BaseModel):
    name: str = Field(description="file name inside the model directory (no path)")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # Receivers write files by this name: nothing that could leave their directory.
        if not v or "/" in v or "\\" in v or v in (".", "..") or "\0" in v:
            raise ValueError(f"file name {v!r} must be a plain name without a path")
        return v


class Manifest(BaseModel):
    format: str = FORMAT
    name: str = Field(description="human name of the model (directory name by default)")
    model_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="64-bit id, hex")
    total_size: int
    files: list[FileEntry] = Field(min_length=1, max_length=0xFFFF)

    @property
    def model_id_int(self) -> int:
        return int(self.model_id, 16)

    def check(self) -> None:
        """Raise ValueError when model_id or total_size disagree with the file list."""
        want = compute_model_id(self.files)
        if want != self.model_id:
            raise ValueError(f"manifest model_id {self.model_id} != {want} computed from files")
        if sum(f.size for f in self.files) != self.total_size:
            raise ValueError("manifest total_size is not the sum of file sizes")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("manifest lists a file name twice")


def compute_model_id(files: list[FileEntry]) -> str:
    canon = json.dumps([[f.name, f.size, f.sha256] for f in files], separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(model_dir: Path, name: str | None = None) -> Manifest:
    """Manifest of every regular top-level file of a directory of safetensors shards."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"{model_dir}: not a directory")
    paths = sorted(
        p
        for p in model_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST_NAME
    )
    if not any(p.suffix == ".safetensors" for p in paths):
        raise ValueError(f"{model_dir}: no *.safetensors file")
    files = [FileEntry(name=p.name, size=p.stat().st_size, sha256=sha256_file(p)) for p in paths]
    return Manifest(
        name=name or model_dir.resolve().name,
        model_id=compute_model_id(files),
        total_size=sum(f.size for f in files),
        files=files,
    )


def write_manifest(manifest: Manifest, path: Path) -> None:
    path.write_text(manifest.model_dump_json(indent=2) + "\n")


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest file; a directory means: build one from its files."""
    path = Path(path)
    if path.is_dir():
        own = path / MANIFEST_NAME
        return load_manifest(own) if own.is_file() else build_manifest(path)
    try:
        m = Manifest.model_validate_json(path.read_text())
    except OSError as e:
        raise ValueError(f"{path}: cannot read manifest: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"{path}: not a valid manifest: {e}") from None
    try:
        m.check()
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return m
