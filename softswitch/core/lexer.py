"""Tokenizer for preprocessed P4_16 source; follows cpp line markers for locations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from softswitch.entries import P4SourceError

KEYWORDS = {
    "action",
    "actions",
    "apply",
    "bool",
    "bit",
    "const",
    "control",
    "default",
    "else",
    "entries",
    "enum",
    "error",
    "exit",
    "extern",
    "false",
    "header",
    "header_union",
    "if",
    "in",
    "inout",
    "int",
    "key",
    "match_kind",
    "out",
    "parser",
    "package",
    "return",
    "select",
    "state",
    "struct",
    "switch",
    "table",
    "transition",
    "true",
    "tuple",
    "typedef",
    "type",
    "varbit",
    "value_set",
    "void",
    "string",
    "list",
    "priority",
}

# Longest operators first so that the regex alternation picks them.
_OPS = [
    "&&&",
    "|+|",
    "|-|",
    "...",
    "..",
    "++",
    "<<",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "|",
    "^",
    "~",
    "!",
    "<",
    ">",
    "?",
    ":",
    ";",
    ",",
    ".",
    "=",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "@",
]

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<nl>\n)
  | (?P<linemarker>^\#[ \t]*(?:line[ \t]+)?(?P<lm_line>\d+)(?:[ \t]+"(?P<lm_file>[^"]*)")?[^\n]*)
  | (?P<pragma>^\#[^\n]*)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<number>(?:\d+[ws])?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[dD][0-9_]+|\d[\d_]*))
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>"""
    + "|".join(re.escape(o) for o in _OPS)
    + r""")
    """,
    re.VERBOSE | re.MULTILINE | re.DOTALL,
)


@dataclass(slots=True)
class Loc:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(slots=True)
class Token:
    kind: str  # ident, keyword, number, string, op, eof
    text: str
    loc: Loc
    end_col: int = 0  # column just after the token, to tell `>>` from `> >`
    value: object = None  # numbers: (value, width or None, signed)


def error(loc: Loc, message: str) -> P4SourceError:
    return P4SourceError(loc.file, loc.line, loc.col, message)


def parse_number(text: str, loc: Loc) -> tuple[int, int | None, bool]:
    """`8w255`, `8s-1`, `0x1F`, `1_000` -> (value, width or None, signed)."""
    width: int | None = None
    signed = False
    m = re.match(r"(\d+)([ws])(.*)", text)
    if m:
        width = int(m.group(1))
        signed = m.group(2) == "s"
        text = m.group(3)
        if width == 0:
            raise error(loc, f"integer literal with width 0: {text!r}")
    body = text.replace("_", "")
    base = 10
    if len(body) > 1 and body[0] == "0" and body[1] in "xXbBoOdD":
        base = {"x": 16, "b": 2, "o": 8, "d": 10}[body[1].lower()]
        body = body[2:]
    try:
        value = int(body, base)
    except ValueError:
        raise error(loc, f"malformed integer literal {text!r}") from None
    return value, width, signed


def tokenize(src: str, file: str) -> list[Token]:
    """Split `src` (cpp output with line markers, or plain P4) into tokens."""
    tokens: list[Token] = []
    pos = 0
    line = 1
    line_start = 0
    cur_file = file
    n = len(src)
    while pos < n:
        m = _TOKEN_RE.match(src, pos)
        if not m:
            loc = Loc(cur_file, line, pos - line_start + 1)
            raise error(loc, f"unexpected character {src[pos]!r}")
        kind = m.lastgroup
        text = m.group(0)
        col = pos - line_start + 1
        if kind == "lm_line" or kind == "lm_file":
            kind = "linemarker"
        if m.group("linemarker") is not None:
            # `# 12 "file"`: the next line is line 12 of file
            line = int(m.group("lm_line")) - 1
            if m.group("lm_file") is not None:
                cur_file = m.group("lm_file")
        elif kind == "pragma":
            raise error(Loc(cur_file, line, col), f"unsupported preprocessor line {text!r}")
        elif kind == "nl":
            line += 1
            line_start = m.end()
        elif kind == "bcomment":
            nls = text.count("\n")
            if nls:
                line += nls
                line_start = pos + text.rfind("\n") + 1
        elif kind in ("ws", "lcomment"):
            pass
        else:
            loc = Loc(cur_file, line, col)
            tok = Token(kind, text, loc, col + len(text))
            if kind == "ident" and text in KEYWORDS:
                tok.kind = "keyword"
            elif kind == "number":
                tok.value = parse_number(text, loc)
            elif kind == "string":
                tok.value = bytes(text[1:-1], "utf-8").decode("unicode_escape")
            tokens.append(tok)
        pos = m.end()
    tokens.append(Token("eof", "", Loc(cur_file, line, pos - line_start + 1)))
    return tokens
