"""The store: one folder shared by the receivers on one disk, holding one copy of each file
of a model, named by its content (`<sha256>-<size>`).

A receiver links its verified file into the store, or replaces it by a link to the store's
copy (modelsync.reassembly). When the store holds a file before the file's first chunk
comes (`seed` puts the model-store host's own files there, checked against the manifest), a
receiver needs no second copy of what it hashes as it arrives: it hashes those chunks
without writing them, writes only what comes out of order, and ends, once the sha256 of
every byte it received matches, with a link to the store's copy. On the emulating machine
this saves 128 page-cache copies of the model per round that would be thrown away at once.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from modelsync.manifest import FileEntry, Manifest, sha256_file


def stored(store: Path, entry: FileEntry) -> Path:
    """Where the store keeps the file of `entry` (whether it is there or not)."""
    return store / f"{entry.sha256}-{entry.size}"


def seed(store: Path, model_dir: Path, manifest: Manifest) -> int:
    """Put the model's own files into the store (a hard link, or a copy across filesystems),
    each only once its sha256 matches the manifest; returns how many were added. A file
    missing or different in `model_dir` is left out (the receivers then write it whole)."""
    store.mkdir(parents=True, exist_ok=True)
    added = 0
    for entry in manifest.files:
        dst = stored(store, entry)
        src = (model_dir / entry.name).resolve()
        if dst.exists() or not src.is_file() or src.stat().st_size != entry.size:
            continue
        if sha256_file(src) != entry.sha256:
            continue
        tmp = dst.with_name(dst.name + f".seed{os.getpid()}")
        try:
            os.link(src, tmp)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        added += 1
    return added
