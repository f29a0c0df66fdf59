"""The counter codes are written three times: as constants in p4src/common.p4 (what the
programs count with), as names in controlplane/controller.py (what the records call them) and
in p4src/README.md's table. All three must say the same."""

from __future__ import annotations

import re
from pathlib import Path

from controlplane.controller import COUNTERS, CPU_PORT, IN_CODES, OUT_CODES, counter_indices

ROOT = Path(__file__).resolve().parents[2]


def p4_codes() -> dict[str, dict[int, str]]:
    """{"IN": {code: name}, "OUT": {...}} from common.p4's `const bit<32> IN_X = n;` lines."""
    text = (ROOT / "p4src" / "common.p4").read_text()
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)  # comments say nothing here
    out: dict[str, dict[int, str]] = {"IN": {}, "OUT": {}}
    for side, name, value in re.findall(
        r"^\s*const\s+bit<32>\s+(IN|OUT)_(\w+)\s*=\s*(\d+)\s*;", text, flags=re.M
    ):
        assert int(value) not in out[side], f"common.p4: two {side} codes {value}"
        out[side][int(value)] = name
    return out


def readme_codes() -> dict[str, dict[int, str]]:
    """The two halves of the table under "### Counters" in p4src/README.md."""
    text = (ROOT / "p4src" / "README.md").read_text()
    section = text.split("### Counters", 1)[1].split("\n## ", 1)[0]
    out: dict[str, dict[int, str]] = {"IN": {}, "OUT": {}}
    for row in re.findall(r"^\|\s*(\d+)\s*\|(.*)$", section, flags=re.M):
        cells = [c.strip() for c in f"{row[0]}|{row[1]}".split("|")]
        for side, (code, what) in (("IN", cells[0:2]), ("OUT", cells[2:4])):
            if code:
                out[side][int(code)] = what.split()[0].rstrip(":")
    return out


def test_the_programs_count_with_the_codes_the_controller_names() -> None:
    p4 = p4_codes()
    assert len(p4["IN"]) >= 17 and len(p4["OUT"]) >= 14, "common.p4's codes were not found"
    assert p4["IN"] == IN_CODES
    assert p4["OUT"] == OUT_CODES


def test_the_readme_table_lists_the_same_codes() -> None:
    assert readme_codes() == p4_codes()


def test_the_controller_reads_the_two_counters_as_the_programs_index_them() -> None:
    assert COUNTERS == {"MyIngress.in_stats": IN_CODES, "MyEgress.out_stats": OUT_CODES}
    for prog in ("bier.p4", "sr_p2mp.p4", "srv6_p2mp.p4"):
        text = (ROOT / "p4src" / prog).read_text()
        for name in COUNTERS:
            short = name.split(".")[1]
            assert re.search(rf"\bcounter\([^;]*\)\s*{short}\s*;", text), (prog, name)
            # index = code * 256 + port: the controller splits it with divmod(index, 256)
            calls = re.findall(rf"{short}\.count\(\((\w+) << (\d+)\)", text)
            assert calls and {shift for _, shift in calls} == {"8"}, (prog, name, calls)


def test_the_controller_reads_every_cell_a_switch_can_count_in() -> None:
    """read_records asks for named codes at the switch's ports and the CPU port only: that
    must be every cell the programs can touch on that switch, inside the counter."""
    text = (ROOT / "p4src" / "common.p4").read_text()
    assert re.search(rf"const\s+bit<9>\s+CPU_PORT\s*=\s*{CPU_PORT}\s*;", text)
    size = int(re.search(r"#define\s+STATS_SIZE\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    cells = counter_indices(IN_CODES, [1, 2, 3])
    assert len(cells) == len(IN_CODES) * 4 and max(cells) < size
    assert {divmod(i, 256) for i in cells} == {
        (c, p) for c in IN_CODES for p in (1, 2, 3, CPU_PORT)
    }
    # the programs index with the port's low 8 bits: port 257 is counted at cell code*256+1
    assert counter_indices({5: "X"}, [257]) == [5 * 256 + 1, 5 * 256 + 255]
