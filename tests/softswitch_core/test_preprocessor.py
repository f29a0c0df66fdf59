"""The built-in preprocessor (used when `cpp` is absent) against the system cpp, and alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from softswitch.api import P4SourceError, Program
from softswitch.core.cpp import preprocess_builtin
from softswitch.core.preprocess import P4INCLUDE

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = sorted((REPO / "tests/fixtures/p4-reference").glob("*.p4")) + sorted(
    p for p in (REPO / "p4src").glob("*.p4") if ") main;" in p.read_text().replace("\n", " ")
)


@pytest.mark.skipif(shutil.which("cpp") is None, reason="needs the system cpp to compare with")
@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
@pytest.mark.parametrize("defines", [{}, {"BSL": "64"}], ids=["default", "BSL64"])
def test_builtin_preprocessor_gives_the_same_program_as_cpp(
    path: Path, defines: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOFTSWITCH_CPP", raising=False)
    with_cpp = Program.from_file(path, defines=defines)
    monkeypatch.setenv("SOFTSWITCH_CPP", "builtin")
    builtin = Program.from_file(path, defines=defines)
    assert builtin.p4info == with_cpp.p4info
    assert builtin.generated_source == with_cpp.generated_source


def pp(tmp_path: Path, text: str, defines: dict[str, str] | None = None) -> list[str]:
    f = tmp_path / "x.p4"
    f.write_text(text)
    out = preprocess_builtin(f, defines or {}, [], [P4INCLUDE])
    return [ln for ln in out.split("\n") if ln.strip() and not ln.startswith("#")]


def test_macros_conditionals_and_continuations(tmp_path: Path) -> None:
    text = """#define W 8
#define ADD(a, b) ((a) + (b))
#define LIST { x, \\
    y }
/* #define HIDDEN 1 */
#if defined(W) && W * 2 == 16 && !defined HIDDEN
ok1 ADD(W, 1) LIST
#elif 1
bad1
#endif
#ifdef NOPE
bad2
#  if 1
bad3
#  endif
#else
ok2 "W stays in strings"
#endif
#undef W
#ifndef W
ok3 W
#endif
#if (0x10 >> 2) == 4 || FOO
ok4
#endif
"""
    assert pp(tmp_path, text) == [
        "ok1 ((8) + (1)) { x,     y }",
        'ok2 "W stays in strings"',
        "ok3 W",
        "ok4",
    ]
    assert pp(tmp_path, "#if X > 2\nbig\n#else\nsmall\n#endif\n", {"X": "3"}) == ["big"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("\n#bogus\n", 2, "unknown preprocessor directive"),
        ("#if 1\nx\n", 1, "unterminated #if"),
        ("\n\n#endif\n", 3, "#endif without #if"),
        ('#include "missing.p4"\n', 1, "missing.p4: No such file"),
        ("#define F(a) a\nF(1, 2)\n", 2, "takes 1 arguments, 2 given"),
        ("#if 1 +\n#endif\n", 1, "bad #if expression"),
        ("\n#error stop here\n", 2, "#error stop here"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    f = tmp_path / "x.p4"
    f.write_text(text)
    with pytest.raises(P4SourceError) as ei:
        preprocess_builtin(f, {}, [], [P4INCLUDE])
    assert message in ei.value.message
    assert (ei.value.file, ei.value.line) == (str(f), line)


def test_include_keeps_locations(tmp_path: Path) -> None:
    (tmp_path / "inc.p4").write_text("a\nb\n")
    f = tmp_path / "main.p4"
    f.write_text('x\n#include "inc.p4"\ny\n')
    out = preprocess_builtin(f, {}, [], [P4INCLUDE]).split("\n")[:-1]
    assert out == [
        f'# 1 "{f}"',
        "x",
        "",
        f'# 1 "{tmp_path / "inc.p4"}"',
        "a",
        "b",
        "",
        f'# 3 "{f}"',
        "y",
        "",
    ]
