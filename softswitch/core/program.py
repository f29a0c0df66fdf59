"""Program: a compiled P4 program (immutable, shareable between switches)."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from softswitch.core.compiler import Compiler
from softswitch.core.model import ProgramModel
from softswitch.core.parser import parse
from softswitch.core.preprocess import preprocess
from softswitch.entries import P4SourceError

DEVICE_CONFIG_FORMAT = "softswitch-device-config"
DEVICE_CONFIG_VERSION = 1


class Program:
    """A P4_16 v1model program, parsed, checked and translated into Python once."""

    def __init__(self, source: str, name: str, defines: dict[str, str] | None = None) -> None:
        self.source = source  # preprocessed text (with cpp line markers)
        self.name = name
        self.defines = dict(defines or {})
        try:
            self.model: ProgramModel = Compiler(parse(source, name)).compile()
            self.code = compile(self.model.source, f"<softswitch {name}>", "exec")
        except P4SourceError:
            raise
        except (Exception, RecursionError) as e:  # a softswitch bug: still a clear error
            raise P4SourceError(
                name,
                0,
                0,
                f"softswitch cannot translate this program "
                f"(internal error: {type(e).__name__}: {e})",
            ) from e

    # ---- construction ---------------------------------------------------------------------
    @staticmethod
    def from_file(
        path: str | Path,
        defines: dict[str, str] | None = None,
        include_dirs: list[str] | None = None,
    ) -> Program:
        src = preprocess(path, defines, include_dirs)
        return Program(src, Path(path).name, defines)

    @staticmethod
    def from_source(text: str, name: str = "<string>") -> Program:
        """A program from already preprocessed text (no #include/#define processing)."""
        return Program(text, name)

    @staticmethod
    def from_device_config(blob: bytes) -> Program:
        try:
            d = json.loads(blob)
        except (ValueError, UnicodeDecodeError) as e:
            raise P4SourceError(
                "<device config>", 0, 0, f"not a softswitch device config: {e}"
            ) from None
        if not isinstance(d, dict) or d.get("format") != DEVICE_CONFIG_FORMAT:
            raise P4SourceError(
                "<device config>",
                0,
                0,
                f"not a softswitch device config (format != {DEVICE_CONFIG_FORMAT!r})",
            )
        if d.get("version") != DEVICE_CONFIG_VERSION:
            raise P4SourceError(
                "<device config>", 0, 0, f"device config version {d.get('version')!r} unsupported"
            )
        src = d.get("source")
        if not isinstance(src, str) or hashlib.sha256(src.encode()).hexdigest() != d.get("sha256"):
            raise P4SourceError("<device config>", 0, 0, "device config source is corrupt")
        return Program(src, d.get("program", "<device config>"), d.get("defines") or {})

    def device_config(self) -> bytes:
        d: dict[str, Any] = {
            "format": DEVICE_CONFIG_FORMAT,
            "version": DEVICE_CONFIG_VERSION,
            "program": self.name,
            "defines": self.defines,
            "sha256": hashlib.sha256(self.source.encode()).hexdigest(),
            "source": self.source,
        }
        return json.dumps(d, indent=1).encode()

    # ---- views ----------------------------------------------------------------------------
    @cached_property
    def p4info(self) -> Any:
        from softswitch.core.p4info import build_p4info

        return build_p4info(self.model)

    @property
    def generated_source(self) -> str:
        return self.model.source

    def __repr__(self) -> str:
        return f"Program({self.name!r})"
