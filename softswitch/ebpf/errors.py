"""The eBPF backend's error for P4 it cannot run in the kernel."""

from __future__ import annotations

from softswitch.core.lexer import Loc
from softswitch.entries import P4SourceError


class EbpfUnsupported(P4SourceError):
    """A construct the Python backend runs but the eBPF backend cannot: names it and where."""


def unsupported(loc: Loc, what: str) -> EbpfUnsupported:
    return EbpfUnsupported(loc.file, loc.line, loc.col, f"the eBPF backend does not support {what}")
