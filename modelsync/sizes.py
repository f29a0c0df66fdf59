"""Sizes in bytes from what people write: 4096, '64MB', '140GB', '1TB' (SI: MB = 10^6),
'16MiB' (binary: MiB = 2^20), 'K'/'M'/'G'/'T' for the SI units. The one parser of the
project: modelsync's command line and the experiment description both use it."""

from __future__ import annotations

import re
from typing import Any

UNITS = {"": 1, "B": 1} | {
    prefix + suffix: base**power
    for power, prefix in enumerate(("K", "M", "G", "T"), start=1)
    for suffix, base in (("", 10**3), ("B", 10**3), ("IB", 2**10))
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


def parse_size(value: Any) -> int:
    """Bytes (> 0) from an int, a whole float, or a string with an optional unit (any case);
    ValueError saying what is wrong otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (use bytes or e.g. '16MB', '140GB', '1TB')")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"a size must be positive, got {value}")
        return value
    if isinstance(value, float) and value > 0 and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m and m.group(2).upper() in UNITS:
            n = int(float(m.group(1)) * UNITS[m.group(2).upper()])
            if n > 0:
                return n
    raise ValueError(f"{value!r} is not a size (use bytes or e.g. '16MB', '140GB', '1TB', '64MiB')")
