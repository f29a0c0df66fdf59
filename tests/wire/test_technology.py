"""The technologies' one spelling (wire.technology)."""

from __future__ import annotations

import json

import pytest

from wire.technology import MULTICAST, P4, Technology


def test_spellings_and_kinds() -> None:
    assert [t.value for t in Technology] == [
        "unicast", "bier", "sr-p2mp", "srv6-p2mp", "pim-sm", "pim-ssm",
    ]  # fmt: skip
    assert Technology.SR_P2MP == "sr-p2mp" and f"{Technology.PIM_SM}" == "pim-sm"
    assert json.dumps({"technology": Technology.BIER}) == '{"technology": "bier"}'
    assert {"bier", "sr-p2mp", "srv6-p2mp", "pim-sm", "pim-ssm"} == MULTICAST
    assert [t for t in Technology if t.ip_multicast] == ["pim-sm", "pim-ssm"]
    assert P4 == ("unicast", "bier", "sr-p2mp", "srv6-p2mp")
    assert [t for t in Technology if t.replication_segments] == ["sr-p2mp", "srv6-p2mp"]
    assert [t for t in Technology if t.raw_frames] == ["bier", "sr-p2mp", "srv6-p2mp"]


@pytest.mark.parametrize("name", ["sr", "ip-multicast", "BIER", ""])
def test_other_spellings_are_refused_by_name(name: str) -> None:
    with pytest.raises(ValueError) as e:
        Technology.parse(name)
    assert str(e.value) == (
        f"unknown technology {name!r}; one of unicast, bier, sr-p2mp, srv6-p2mp, pim-sm, pim-ssm"
    )
