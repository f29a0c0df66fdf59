"""Compile the emitted C with `clang -target bpf` (Debian's clang, llvm and libbpf-dev).

Objects are cached by the sha256 of the C source (and the runtime header) under
$XDG_CACHE_HOME/softswitch-ebpf (default ~/.cache), so restarting a switch with the same
program skips clang.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from softswitch.ebpf.emit import RUNTIME_H

CLANG_FLAGS = [
    "-O2",
    "-g",  # BTF: the kernel needs it for the global (separately verified) block functions
    "-target",
    "bpf",
    "-Wall",
    "-Wno-unused-label",
    "-Wno-unused-variable",
    "-Wno-unused-but-set-variable",
    "-Wno-unused-function",
    "-Wno-parentheses-equality",
    "-Werror=implicit-function-declaration",
]


class BuildError(RuntimeError):
    """clang is missing or rejected the generated C (a bug of the emitter)."""


def clang_path() -> str | None:
    return shutil.which("clang")


@functools.cache
def clang_version() -> str:
    exe = clang_path()
    if exe is None:
        return "absent"
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return r.stdout.splitlines()[0].strip() if r.returncode == 0 and r.stdout else "unknown"


@functools.cache
def multiarch_include() -> str | None:
    """/usr/include/<triplet>, where Debian keeps asm/types.h that linux/bpf.h needs."""
    for cc in ("gcc", "clang"):
        exe = shutil.which(cc)
        if exe is None:
            continue
        r = subprocess.run([exe, "-print-multiarch"], capture_output=True, text=True)
        triplet = r.stdout.strip()
        if triplet and Path(f"/usr/include/{triplet}").is_dir():
            return f"/usr/include/{triplet}"
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "softswitch-ebpf"


def compile_c(source: str, name: str = "prog") -> Path:
    """The BPF object file for `source` (compiled now or taken from the cache)."""
    exe = clang_path()
    if exe is None:
        raise BuildError("clang is not installed (make setup installs it)")
    h = hashlib.sha256(source.encode() + RUNTIME_H.read_bytes() + clang_version().encode())
    digest = h.hexdigest()[:24]
    out_dir = cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / f"{name}-{digest}.o"
    if obj.exists():
        return obj
    with tempfile.TemporaryDirectory(prefix="ssebpf-") as tmp:
        c = Path(tmp) / f"{name}.c"
        c.write_text(source)
        cmd = [exe, *CLANG_FLAGS, "-I", str(RUNTIME_H.parent)]
        inc = multiarch_include()
        if inc:
            cmd += ["-I", inc]
        tmp_obj = Path(tmp) / f"{name}.o"
        r = subprocess.run([*cmd, "-c", str(c), "-o", str(tmp_obj)], capture_output=True, text=True)
        if r.returncode != 0:
            errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
            why = "\n".join(dict.fromkeys(errors)) or r.stderr[-4000:]
            raise BuildError(f"clang failed on the generated C for {name}:\n{why}")
        shutil.move(str(tmp_obj), obj)
    return obj
