"""The receiver set given to the sender: a JSON or YAML file written by the experiment runner.

receivers:                      # or a bare list
  - {name: h2, ip: 10.0.0.2, bfr_id: 1}
  - {name: h3, ip: 10.0.0.3, bfr_id: 2, port: 50000}
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator

from wire.constants import DATA_PORT


class ReceiverSpec(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    ip: str
    bfr_id: int | None = Field(None, ge=1, le=0xFFFF)
    port: int = Field(DATA_PORT, ge=1, le=0xFFFF)

    @field_validator("ip")
    @classmethod
    def _ipv4(cls, v: str) -> str:
        return str(ipaddress.IPv4Address(v))


class ReceiverSet(BaseModel):
    receivers: list[ReceiverSpec] = Field(min_length=1)

    @field_validator("receivers")
    @classmethod
    def _unique(cls, v: list[ReceiverSpec]) -> list[ReceiverSpec]:
        for attr in ("name", "bfr_id"):
            seen: set[object] = set()
            for r in v:
                key = getattr(r, attr)
                if key is not None and key in seen:
                    raise ValueError(f"receiver {attr} {key!r} appears twice")
                seen.add(key)
        return v


def load_receivers(path: Path) -> list[ReceiverSpec]:
    """Read the receiver file; errors name the file and the bad field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read receivers: {e.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise ValueError(f"{path}: not valid {kind}: {e}") from None
    if isinstance(data, list):
        data = {"receivers": data}
    try:
        return TypeAdapter(ReceiverSet).validate_python(data).receivers
    except ValidationError as e:
        errs = "; ".join(
            ".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in e.errors()
        )
        raise ValueError(f"{path}: {errs}") from None
