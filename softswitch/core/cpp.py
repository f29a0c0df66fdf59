"""A small C preprocessor for P4 sources, used when the system `cpp` is not installed.

Supports what P4 programs use: #include "..." and <...>, object-like and function-like
#define, #undef, #if/#elif with integer expressions and defined(), #ifdef/#ifndef/#else/
#endif, #error, #warning, #pragma (dropped), line continuations and comments. The output
carries cpp-style line markers, so errors keep their file:line:column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from softswitch.entries import P4SourceError

_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_]\w*|\d\w*|\s+|.', re.DOTALL)
_DIRECTIVE = re.compile(r"^\s*#\s*(\w*)(.*)$")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_EXPR_TOKEN = re.compile(
    r"\s*(0[xX][0-9a-fA-F]+|\d+|&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%()<>!~&|^?:])[uUlL]*"
)
MAX_DEPTH = 100


@dataclass
class Macro:
    params: list[str] | None  # None: object-like
    body: str


def _strip_comments(text: str) -> str:
    """Comments become spaces (block comments keep their newlines); strings stay."""

    def sub(m: re.Match[str]) -> str:
        s = m.group(0)
        if s.startswith('"'):
            return s
        return " " if s.startswith("//") else " " + "\n" * s.count("\n")

    return _COMMENT_OR_STRING.sub(sub, text)


class Preprocessor:
    def __init__(
        self, include_dirs: list[Path], system_dirs: list[Path], defines: dict[str, str]
    ) -> None:
        self.include_dirs = include_dirs
        self.system_dirs = system_dirs
        self.macros: dict[str, Macro] = {k: Macro(None, v) for k, v in defines.items()}
        self.out: list[str] = []

    # ---- expansion --------------------------------------------------------------------------
    def expand(
        self, text: str, where: tuple[str, int], disabled: frozenset[str] = frozenset()
    ) -> str:
        toks = _TOKEN.findall(text)
        out: list[str] = []
        i = 0
        while i < len(toks):
            t = toks[i]
            m = self.macros.get(t) if _IDENT.fullmatch(t) and t not in disabled else None
            if m is None:
                out.append(t)
                i += 1
                continue
            if m.params is None:
                out.append(self.expand(m.body, where, disabled | {t}))
                i += 1
                continue
            j = i + 1
            while j < len(toks) and toks[j].isspace():
                j += 1
            if j >= len(toks) or toks[j] != "(":
                out.append(t)  # a function-like macro name without arguments stays as it is
                i += 1
                continue
            args, i = self._args(toks, j, where, t)
            if len(args) == 1 and not args[0].strip() and not m.params:
                args = []
            if len(args) != len(m.params):
                raise P4SourceError(
                    where[0],
                    where[1],
                    0,
                    f"macro {t} takes {len(m.params)} arguments, {len(args)} given",
                )
            values = {
                p: self.expand(a.strip(), where, disabled)
                for p, a in zip(m.params, args, strict=True)
            }
            body = "".join(values.get(x, x) for x in _TOKEN.findall(m.body))
            out.append(self.expand(body, where, disabled | {t}))
        return "".join(out)

    @staticmethod
    def _args(toks: list[str], j: int, where: tuple[str, int], name: str) -> tuple[list[str], int]:
        depth = 0
        args: list[str] = []
        cur: list[str] = []
        k = j
        while k < len(toks):
            t = toks[k]
            if t == "(":
                depth += 1
                if depth == 1:
                    k += 1
                    continue
            elif t == ")":
                depth -= 1
                if depth == 0:
                    args.append("".join(cur))
                    return args, k + 1
            elif t == "," and depth == 1:
                args.append("".join(cur))
                cur = []
                k += 1
                continue
            cur.append(t)
            k += 1
        raise P4SourceError(where[0], where[1], 0, f"unterminated arguments of macro {name}")

    # ---- #if expressions ----------------------------------------------------------------------
    def eval_condition(self, expr: str, where: tuple[str, int]) -> bool:
        expr = re.sub(
            r"\bdefined\s*\(\s*([A-Za-z_]\w*)\s*\)|\bdefined\s+([A-Za-z_]\w*)",
            lambda m: "1" if (m.group(1) or m.group(2)) in self.macros else "0",
            expr,
        )
        expr = self.expand(expr, where)
        expr = re.sub(r"(?<!\w)[A-Za-z_]\w*", "0", expr)  # undefined names are 0
        py: list[str] = []
        pos = 0
        expr = expr.strip()
        while pos < len(expr):
            m = _EXPR_TOKEN.match(expr, pos)
            if not m:
                raise P4SourceError(where[0], where[1], 0, f"bad #if expression {expr!r}")
            t = m.group(1)
            pos = m.end()
            py.append({"&&": " and ", "||": " or ", "!": " not ", "/": "//"}.get(t, t))
            if t[0].isdigit():
                py[-1] = str(
                    int(t, 0) if not (len(t) > 1 and t[0] == "0" and t[1].isdigit()) else int(t, 8)
                )
        text = "".join(py).replace(" not =", "!=")
        if "?" in text:
            raise P4SourceError(where[0], where[1], 0, "?: in #if is not supported")
        try:
            return bool(eval(text, {"__builtins__": {}}, {}))  # only digits and operators
        except Exception:
            raise P4SourceError(where[0], where[1], 0, f"bad #if expression {expr!r}") from None

    # ---- files ----------------------------------------------------------------------------------
    def find(self, name: str, system: bool, current: Path, where: tuple[str, int]) -> Path:
        dirs = ([] if system else [current.parent]) + self.include_dirs + self.system_dirs
        for d in dirs:
            p = d / name
            if p.is_file():
                return p
        raise P4SourceError(where[0], where[1], 0, f"preprocessor: {name}: No such file")

    def process(self, path: Path, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise P4SourceError(str(path), 1, 0, "#include nested too deeply")
        fname = str(path)
        text = _strip_comments(path.read_text())
        lines = text.split("\n")
        self.out.append(f'# 1 "{fname}"')
        stack: list[list] = []  # [active, some branch taken, line of the #if]
        active = True
        n = 0
        while n < len(lines):
            lineno = n + 1
            line = lines[n]
            extra = 0
            while line.endswith("\\") and n + 1 + extra < len(lines):
                extra += 1
                line = line[:-1] + lines[n + extra]
            n += 1 + extra
            where = (fname, lineno)
            m = _DIRECTIVE.match(line)
            if m is None:
                self.out.append(self.expand(line, where) if active else "")
                self.out.extend([""] * extra)
                continue
            self.out.extend([""] * (1 + extra))
            name, rest = m.group(1), m.group(2).strip()
            if name in ("if", "ifdef", "ifndef"):
                if not active:
                    stack.append([False, True, lineno])
                elif name == "if":
                    cond = self.eval_condition(rest, where)
                    stack.append([cond, cond, lineno])
                else:
                    ident = rest.split()[0] if rest.split() else ""
                    cond = (ident in self.macros) == (name == "ifdef")
                    stack.append([cond, cond, lineno])
            elif name in ("elif", "else"):
                if not stack:
                    raise P4SourceError(fname, lineno, 0, f"#{name} without #if")
                top = stack[-1]
                parent_active = all(s[0] for s in stack[:-1])
                if top[1] or not parent_active:
                    top[0] = False
                else:
                    cond = True if name == "else" else self.eval_condition(rest, where)
                    top[0] = top[1] = cond
            elif name == "endif":
                if not stack:
                    raise P4SourceError(fname, lineno, 0, "#endif without #if")
                stack.pop()
            elif active:
                self.directive(name, rest, path, where, depth, lineno + extra)
            active = all(s[0] for s in stack)
        if stack:
            raise P4SourceError(fname, stack[-1][2], 0, "unterminated #if")

    def directive(
        self, name: str, rest: str, path: Path, where: tuple[str, int], depth: int, resume: int
    ) -> None:
        fname, lineno = where
        if name == "include":
            m = re.fullmatch(r'"([^"]+)"|<([^>]+)>', rest)
            if not m:
                raise P4SourceError(fname, lineno, 0, f"bad #include {rest!r}")
            inc = self.find(m.group(1) or m.group(2), m.group(2) is not None, path, where)
            self.process(inc, depth + 1)
            self.out.append(f'# {resume + 1} "{fname}"')
        elif name == "define":
            m = re.match(r"([A-Za-z_]\w*)(\(([^)]*)\))?\s*(.*)$", rest, re.DOTALL)
            if not m:
                raise P4SourceError(fname, lineno, 0, f"bad #define {rest!r}")
            params = None
            if m.group(2) is not None:
                params = [p.strip() for p in m.group(3).split(",") if p.strip()]
                if "#" in m.group(4):
                    raise P4SourceError(
                        fname, lineno, 0, "unsupported preprocessor feature: # or ## in a macro"
                    )
            self.macros[m.group(1)] = Macro(params, m.group(4).strip())
        elif name == "undef":
            self.macros.pop(rest.split()[0] if rest else "", None)
        elif name == "error":
            raise P4SourceError(fname, lineno, 0, f"preprocessor: #error {rest}")
        elif name in ("warning", "pragma", "line", ""):
            pass
        else:
            raise P4SourceError(fname, lineno, 0, f"unknown preprocessor directive #{name}")


def preprocess_builtin(
    path: Path, defines: dict[str, str], include_dirs: list[Path], system_dirs: list[Path]
) -> str:
    pp = Preprocessor(include_dirs, system_dirs, defines)
    pp.process(path)
    return "\n".join(pp.out) + "\n"
