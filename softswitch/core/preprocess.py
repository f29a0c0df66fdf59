"""C preprocessing of P4 source: the system `cpp` when installed, else softswitch's own small
preprocessor (core/cpp.py); both keep line markers for locations. SOFTSWITCH_CPP=builtin
forces the built-in one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from softswitch.core.cpp import preprocess_builtin
from softswitch.entries import P4SourceError

P4INCLUDE = Path(__file__).resolve().parent.parent / "p4include"
_DIAG = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?:fatal )?error:\s*(?P<msg>.*)$",
    re.MULTILINE,
)


def preprocess(
    path: str | Path, defines: dict[str, str] | None = None, include_dirs: list[str] | None = None
) -> str:
    """Run `cpp` over a P4 file: #include (core.p4 and v1model.p4 are softswitch's own),
    #define, #if/#ifdef, -D NAME=VALUE. Raises P4SourceError on a preprocessor error."""
    path = Path(path)
    if not path.is_file():
        raise P4SourceError(str(path), 0, 0, "no such file")
    # -D NAME means NAME=1, as for cpp
    defines = {k: "1" if v is None else str(v) for k, v in (defines or {}).items()}
    for k in defines:
        if not re.fullmatch(r"[A-Za-z_]\w*", k):
            raise P4SourceError("<command line>", 0, 0, f"bad macro name {k!r}")
    cpp = shutil.which("cpp")
    if cpp is None or os.environ.get("SOFTSWITCH_CPP") == "builtin":
        base = {"__TARGET_BMV2__": "1", "__SOFTSWITCH__": "1"}
        return preprocess_builtin(
            path, {**base, **(defines or {})}, [Path(d) for d in include_dirs or []], [P4INCLUDE]
        )
    cmd = [
        cpp,
        "-undef",
        "-nostdinc",
        "-w",
        "-D__TARGET_BMV2__",
        "-D__SOFTSWITCH__",
        f"-I{path.resolve().parent}",
    ]
    for d in include_dirs or []:
        cmd.append(f"-I{d}")
    cmd.append(f"-I{P4INCLUDE}")
    for k, v in (defines or {}).items():
        if not re.fullmatch(r"[A-Za-z_]\w*", k):
            raise P4SourceError("<command line>", 0, 0, f"bad macro name {k!r}")
        cmd.append(f"-D{k}={v}" if v is not None else f"-D{k}")
    cmd.append(str(path))
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        m = _DIAG.search(r.stderr)
        if m:
            raise P4SourceError(
                m["file"], int(m["line"]), int(m["col"] or 0), f"preprocessor: {m['msg']}"
            )
        raise P4SourceError(str(path), 0, 0, f"preprocessor failed: {r.stderr.strip()}")
    return r.stdout
