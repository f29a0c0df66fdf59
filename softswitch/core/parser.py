"""Recursive-descent parser for P4_16 (the subset softswitch supports, with clear errors)."""

from __future__ import annotations

from softswitch.core import ast as A
from softswitch.core.lexer import Loc, Token, error, tokenize

# Binary operator precedence (higher binds tighter), as in p4c's grammar.
_BINOPS = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    ">": 4,
    "<=": 4,
    ">=": 4,
    "|": 5,
    "^": 6,
    "&": 7,
    "<<": 8,
    ">>": 8,
    "++": 9,
    "+": 9,
    "-": 9,
    "|+|": 9,
    "|-|": 9,
    "*": 10,
    "/": 10,
    "%": 10,
}
_BASE_TYPE_KW = {"bit", "int", "bool", "error", "string", "varbit", "void", "tuple", "match_kind"}


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        # names declared as types so far (P4 declares before use): decides casts and decls
        self.type_names: set[str] = set()
        self.extern_names: set[str] = set()
        self.block_type_names: set[str] = set()  # parsers, controls, packages

    # ---- token helpers --------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, text: str) -> bool:
        t = self.tok
        return t.text == text and t.kind in ("op", "keyword", "ident")

    def accept(self, text: str) -> Token | None:
        if self.at(text):
            t = self.tok
            self.i += 1
            return t
        return None

    def expect(self, text: str, what: str | None = None) -> Token:
        if self.at(text):
            t = self.tok
            self.i += 1
            return t
        found = self.tok.text or "end of file"
        raise error(self.tok.loc, f"expected {what or repr(text)}, found {found!r}")

    def ident(self, what: str = "an identifier") -> Token:
        t = self.tok
        # a few keywords are also ordinary names in positions where P4 allows them
        if t.kind == "ident" or (
            t.kind == "keyword"
            and t.text
            in ("apply", "key", "actions", "entries", "priority", "state", "type", "list")
        ):
            self.i += 1
            return t
        raise error(t.loc, f"expected {what}, found {t.text or 'end of file'!r}")

    def at_shr(self) -> bool:
        """`>` `>` written adjacently is a right shift (the lexer splits it for generics)."""
        t, n = self.tok, self.peek()
        return (
            t.text == ">"
            and n.text == ">"
            and t.loc.line == n.loc.line
            and t.end_col == n.loc.col
            and t.kind == "op"
            and n.kind == "op"
        )

    # ---- annotations ----------------------------------------------------------------------
    def annotations(self) -> list[A.Annotation]:
        anns = []
        while self.at("@"):
            at = self.expect("@")
            name = self.ident("an annotation name").text
            args: list = []
            raw = ""
            if self.at("("):
                open_tok = self.expect("(")
                start = self.i
                depth = 1
                while depth:
                    t = self.tok
                    if t.kind == "eof":
                        raise error(open_tok.loc, "unterminated annotation")
                    if t.text in ("(", "[", "{") and t.kind == "op":
                        depth += 1
                    elif t.text in (")", "]", "}") and t.kind == "op":
                        depth -= 1
                    self.i += 1
                body = self.toks[start : self.i - 1]
                raw = " ".join(t.text for t in body)
                args = self._annotation_args(body)
            anns.append(A.Annotation(at.loc, name, args, raw))
        return anns

    def _annotation_args(self, body: list[Token]) -> list:
        """Comma-separated literals/strings/names; anything else stays as raw text."""
        args: list = []
        cur: list[Token] = []
        for t in [*body, None]:
            if t is None or (t.kind == "op" and t.text == ","):
                if len(cur) == 1 and cur[0].kind == "number":
                    args.append(cur[0].value[0])  # type: ignore[index]
                elif len(cur) == 1 and cur[0].kind == "string":
                    args.append(cur[0].value)
                elif cur:
                    args.append(" ".join(x.text for x in cur))
                cur = []
            else:
                cur.append(t)
        return args

    # ---- types ----------------------------------------------------------------------------
    def starts_type(self) -> bool:
        t = self.tok
        if t.kind == "keyword" and t.text in _BASE_TYPE_KW:
            return True
        return t.kind == "ident" and t.text in self.type_names

    def type_ref(self) -> object:
        t = self.tok
        loc = t.loc
        if self.accept("bit") or self.accept("int") or self.accept("varbit"):
            signed = t.text == "int"
            if self.accept("<"):
                if self.tok.kind == "number":
                    n = self.tok
                    self.i += 1
                    width: object = A.Lit(n.loc, n.value[0], None, False)  # type: ignore[index]
                else:
                    self.expect("(", "a width")
                    width = self.expr()
                    self.expect(")")
                self.expect(">")
            elif t.text == "int":
                width = None
            elif t.text == "bit":
                width = A.Lit(loc, 1, None, False)
            else:
                raise error(loc, "varbit needs a width")
            ty: object = A.TBits(loc, width, signed, t.text == "varbit")
        elif t.kind == "keyword" and t.text in ("bool", "error", "string", "void", "match_kind"):
            self.i += 1
            ty = A.TSimple(loc, t.text)
        elif self.accept("tuple"):
            self.expect("<")
            elems = [self.type_ref()]
            while self.accept(","):
                elems.append(self.type_ref())
            self.expect(">")
            ty = A.TTuple(loc, elems)
        elif t.kind == "ident":
            self.i += 1
            args = []
            if self.at("<") and (t.text in self.type_names or t.text in self.extern_names):
                self.expect("<")
                args.append(self.type_ref())
                while self.accept(","):
                    args.append(self.type_ref())
                self.expect(">")
            ty = A.TName(loc, t.text, args)
        else:
            raise error(loc, f"expected a type, found {t.text or 'end of file'!r}")
        while self.at("[") and self.peek().text != "]":
            lb = self.expect("[")
            size = self.expr()
            self.expect("]")
            ty = A.TStack(lb.loc, ty, size)
        return ty

    def type_params(self) -> list[str]:
        names = []
        if self.accept("<"):
            names.append(self.ident().text)
            while self.accept(","):
                names.append(self.ident().text)
            self.expect(">")
        return names

    # ---- expressions ----------------------------------------------------------------------
    def expr(self, min_prec: int = 0) -> object:
        left = self.unary()
        while True:
            t = self.tok
            if t.text == "?" and t.kind == "op" and min_prec == 0:
                self.i += 1
                then = self.expr()
                self.expect(":")
                other = self.expr()
                left = A.Cond(t.loc, left, then, other)
                continue
            op = t.text if t.kind == "op" else None
            if op == ">" and self.at_shr():
                op = ">>"
            if op not in _BINOPS or _BINOPS[op] < min_prec:
                return left
            prec = _BINOPS[op]
            self.i += 2 if op == ">>" else 1
            right = self.expr(prec + 1)
            left = A.Binary(t.loc, op, left, right)

    def unary(self) -> object:
        t = self.tok
        if t.kind == "op" and t.text in ("!", "~", "-", "+"):
            self.i += 1
            return A.Unary(t.loc, t.text, self.unary())
        if t.kind == "op" and t.text == "(" and self._is_cast():
            self.i += 1
            ty = self.type_ref()
            self.expect(")")
            return A.Cast(t.loc, ty, self.unary())
        return self.postfix(self.primary())

    def _is_cast(self) -> bool:
        n = self.peek()
        if n.kind == "keyword" and n.text in ("bit", "int", "bool", "varbit", "error"):
            return True
        if n.kind == "ident" and n.text in self.type_names:
            # `(T) e` or `(T<..>) e`; a parenthesized value named like a type cannot occur
            return self.peek(2).text in (")", "<", "[")
        return False

    def primary(self) -> object:
        t = self.tok
        loc = t.loc
        if t.kind == "number":
            self.i += 1
            v, w, s = t.value  # type: ignore[misc]
            return A.Lit(loc, v, w, s)
        if t.kind == "string":
            self.i += 1
            return A.StrLit(loc, t.value)  # type: ignore[arg-type]
        if self.accept("true"):
            return A.BoolLit(loc, True)
        if self.accept("false"):
            return A.BoolLit(loc, False)
        if self.accept("("):
            e = self.expr()
            self.expect(")")
            return e
        if self.accept("{"):
            return self._brace_expr(loc)
        if self.at("error") or self.at("int") or self.at("bit"):
            # `error.X`; or a type in expression position (e.g. a method's type argument)
            if self.at("error") and self.peek().text == ".":
                self.i += 1
                return A.Name(loc, "error")
            return A.TypeExpr(loc, self.type_ref())
        if self.accept("."):
            name = self.ident()
            return A.Name(loc, name.text, True)
        if t.kind == "ident" and t.text == "_":
            self.i += 1
            return A.DontCare(loc)
        if t.kind == "ident" or (t.kind == "keyword" and t.text in ("apply", "key", "type")):
            self.i += 1
            return A.Name(loc, t.text)
        raise error(loc, f"expected an expression, found {t.text or 'end of file'!r}")

    def _brace_expr(self, loc: Loc) -> object:
        if self.accept("}"):
            return A.ListExpr(loc, [])
        # `{ name = e, ... }` is a struct expression
        if self.tok.kind == "ident" and self.peek().text == "=" and self.peek().kind == "op":
            fields = []
            while True:
                n = self.ident()
                self.expect("=")
                fields.append((n.text, self.expr()))
                if not self.accept(","):
                    break
                if self.at("}"):
                    break
            self.expect("}")
            return A.StructExpr(loc, None, fields)
        items = [self.expr()]
        while self.accept(","):
            if self.at("}"):
                break
            items.append(self.expr())
        self.expect("}")
        return A.ListExpr(loc, items)

    def postfix(self, e: object) -> object:
        while True:
            t = self.tok
            if self.accept("."):
                name = self.ident("a member name")
                e = A.Member(e.loc, e, name.text)  # type: ignore[attr-defined]
                e.name_loc = name.loc
            elif self.accept("["):
                idx = self.expr()
                if self.accept(":"):
                    lo = self.expr()
                    self.expect("]")
                    e = A.Slice(t.loc, e, idx, lo)
                else:
                    self.expect("]")
                    e = A.Index(t.loc, e, idx)
            elif self.at("<") and self._generic_call_ahead():
                self.expect("<")
                targs = [self.type_ref()]
                while self.accept(","):
                    targs.append(self.type_ref())
                self.expect(">")
                self.expect("(")
                e = A.Call(e.loc, e, targs, self.args())  # type: ignore[attr-defined]
            elif self.accept("("):
                e = A.Call(e.loc, e, [], self.args())  # type: ignore[attr-defined]
            else:
                return e

    def _generic_call_ahead(self) -> bool:
        """`f<T>(...)`: a `<` followed by a type and `>` `(`."""
        n = self.peek()
        if not ((n.kind == "keyword" and n.text in _BASE_TYPE_KW) or n.text in self.type_names):
            return False
        depth = 0
        j = self.i
        while j < len(self.toks):
            t = self.toks[j]
            if t.text == "<":
                depth += 1
            elif t.text == ">":
                depth -= 1
                if depth == 0:
                    return self.toks[j + 1].text == "("
            elif t.text in (";", "{", "}", "=="):
                return False
            j += 1
        return False

    def args(self) -> list[A.Arg]:
        out: list[A.Arg] = []
        if self.accept(")"):
            return out
        while True:
            t = self.tok
            if t.kind == "ident" and self.peek().text == "=" and self.peek().kind == "op":
                self.i += 2
                out.append(A.Arg(t.loc, t.text, self.expr()))
            else:
                out.append(A.Arg(t.loc, None, self.expr()))
            if not self.accept(","):
                break
        self.expect(")")
        return out

    def keyset_elem(self) -> object:
        t = self.tok
        if self.accept("default"):
            return A.Default(t.loc)
        if t.kind == "ident" and t.text == "_" and self.peek().text in (",", ")", ":"):
            self.i += 1
            return A.DontCare(t.loc)
        e = self.expr()
        if self.accept("&&&"):
            return A.Mask(t.loc, e, self.expr())
        if self.accept(".."):
            return A.RangeExpr(t.loc, e, self.expr())
        return e

    def keyset(self) -> object:
        t = self.tok
        if self.at("(") and self._tuple_keyset_ahead():
            self.expect("(")
            items = [self.keyset_elem()]
            while self.accept(","):
                items.append(self.keyset_elem())
            self.expect(")")
            return A.ListExpr(t.loc, items)
        return self.keyset_elem()

    def _tuple_keyset_ahead(self) -> bool:
        depth = 0
        j = self.i
        while j < len(self.toks):
            t = self.toks[j]
            if t.text in ("(", "[", "{"):
                depth += 1
            elif t.text in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    return False
            elif t.text == "," and depth == 1:
                return True
            elif t.kind == "eof":
                return False
            j += 1
        return False

    # ---- statements -----------------------------------------------------------------------
    def block(self) -> A.Block:
        lb = self.expect("{")
        stmts = []
        while not self.accept("}"):
            if self.tok.kind == "eof":
                raise error(lb.loc, "unterminated block")
            stmts.append(self.statement())
        return A.Block(lb.loc, stmts)

    def statement(self) -> object:
        t = self.tok
        loc = t.loc
        anns = self.annotations()
        if self.at("{"):
            return self.block()
        if self.accept(";"):
            return A.Empty(loc)
        if self.accept("if"):
            self.expect("(")
            c = self.expr()
            self.expect(")")
            then = self.statement()
            other = self.statement() if self.accept("else") else None
            return A.If(loc, c, then, other)
        if self.accept("exit"):
            self.expect(";")
            return A.Exit(loc)
        if self.accept("return"):
            e = None if self.at(";") else self.expr()
            self.expect(";")
            return A.Return(loc, e)
        if self.accept("switch"):
            self.expect("(")
            e = self.expr()
            self.expect(")")
            self.expect("{")
            cases = []
            while not self.accept("}"):
                ct = self.tok
                label = A.Default(ct.loc) if self.accept("default") else self.expr()
                self.expect(":")
                body = self.block() if self.at("{") else None
                cases.append(A.SwitchCase(ct.loc, label, body))
            return A.SwitchStmt(loc, e, cases)
        if self.accept("const"):
            ty = self.type_ref()
            name = self.ident()
            self.expect("=")
            v = self.expr()
            self.expect(";")
            return A.ConstDecl(name.loc, name.text, anns, ty, v)
        if self._at_declaration():
            return self.var_or_instance(anns)
        e = self.expr()
        if self.accept("="):
            rhs = self.expr()
            self.expect(";")
            return A.Assign(loc, e, rhs)
        self.expect(";")
        if not isinstance(e, A.Call):
            raise error(loc, "expression used as a statement is not a call")
        return A.CallStmt(loc, e)

    def _at_declaration(self) -> bool:
        t, n = self.tok, self.peek()
        if t.kind == "keyword" and t.text in ("bit", "int", "bool", "varbit", "error", "tuple"):
            return not (t.text == "error" and n.text == ".")
        if t.kind == "ident" and (t.text in self.type_names or t.text in self.extern_names):
            return n.kind == "ident" or n.text in ("<", "[", "(")
        return False

    def var_or_instance(self, anns: list[A.Annotation]) -> object:
        loc = self.tok.loc
        ty = self.type_ref()
        if self.accept("("):
            args = self.args()
            name = self.ident()
            self.expect(";")
            return A.Instantiation(name.loc, name.text, anns, ty, args)
        name = self.ident()
        init = self.expr() if self.accept("=") else None
        self.expect(";")
        del loc
        return A.VarDecl(name.loc, name.text, anns, ty, init)

    # ---- declarations ---------------------------------------------------------------------
    def params(self) -> list[A.Param]:
        self.expect("(")
        out: list[A.Param] = []
        if self.accept(")"):
            return out
        while True:
            anns = self.annotations()
            d = ""
            for kw in ("inout", "in", "out"):
                if self.accept(kw):
                    d = kw
                    break
            ty = self.type_ref()
            name = self.ident("a parameter name")
            default = self.expr() if self.accept("=") else None
            out.append(A.Param(name.loc, name.text, anns, d, ty, default))
            if not self.accept(","):
                break
        self.expect(")")
        return out

    def fields(self) -> list[A.Field]:
        self.expect("{")
        out = []
        while not self.accept("}"):
            anns = self.annotations()
            ty = self.type_ref()
            name = self.ident("a field name")
            self.expect(";")
            out.append(A.Field(name.loc, name.text, anns, ty))
        return out

    def name_list(self) -> list[tuple[str, Loc]]:
        self.expect("{")
        out = []
        while not self.accept("}"):
            n = self.ident()
            out.append((n.text, n.loc))
            if not self.accept(","):
                self.expect("}")
                break
        return out

    def program(self) -> A.Program:
        decls = []
        start = self.tok.loc
        while self.tok.kind != "eof":
            d = self.declaration()
            if d is not None:
                decls.append(d)
        return A.Program(start, decls)

    def declaration(self) -> object:
        anns = self.annotations()
        t = self.tok
        loc = t.loc
        if self.accept(";"):
            return None
        if self.accept("header") or self.accept("header_union"):
            name = self.ident()
            self.type_names.add(name.text)
            return A.HeaderDecl(name.loc, name.text, anns, self.fields(), t.text == "header_union")
        if self.accept("struct"):
            name = self.ident()
            self.type_names.add(name.text)
            return A.StructDecl(name.loc, name.text, anns, self.fields())
        if self.accept("enum"):
            under = self.type_ref() if self.at("bit") or self.at("int") else None
            name = self.ident()
            self.type_names.add(name.text)
            self.expect("{")
            members = []
            while not self.accept("}"):
                m = self.ident()
                v = self.expr() if self.accept("=") else None
                members.append((m.text, v, m.loc))
                if not self.accept(","):
                    self.expect("}")
                    break
            return A.EnumDecl(name.loc, name.text, anns, under, members)
        if self.accept("error"):
            return A.ErrorDecl(loc, "error", anns, self.name_list())
        if self.accept("match_kind"):
            return A.MatchKindDecl(loc, "match_kind", anns, self.name_list())
        if self.accept("typedef") or self.accept("type"):
            ty = self.type_ref()
            name = self.ident()
            self.expect(";")
            self.type_names.add(name.text)
            return A.TypedefDecl(name.loc, name.text, anns, ty, t.text == "type")
        if self.accept("const"):
            ty = self.type_ref()
            name = self.ident()
            self.expect("=")
            v = self.expr()
            self.expect(";")
            return A.ConstDecl(name.loc, name.text, anns, ty, v)
        if self.accept("extern"):
            return self.extern_decl(anns)
        if self.accept("parser"):
            return self.parser_decl(anns)
        if self.accept("control"):
            return self.control_decl(anns)
        if self.accept("package"):
            name = self.ident()
            tps = self.type_params()
            ps = self.params()
            self.expect(";")
            self.block_type_names.add(name.text)
            self.type_names.add(name.text)
            return A.TypeDeclP(name.loc, name.text, anns, "package", tps, ps)
        if self.accept("action"):
            return self.action_decl(anns)
        if self.at("value_set"):
            raise error(loc, "unsupported construct: value_set")
        if self._at_declaration() or (t.kind == "ident" and self.peek().text in ("(", "<")):
            ty = self.type_ref()
            if self.at("("):
                self.expect("(")
                args = self.args()
                name = self.ident()
                self.expect(";")
                return A.Instantiation(name.loc, name.text, anns, ty, args)
            name = self.ident()
            if self.at("("):
                raise error(loc, "unsupported construct: function declaration")
            init = self.expr() if self.accept("=") else None
            self.expect(";")
            return A.VarDecl(name.loc, name.text, anns, ty, init)
        raise error(loc, f"unexpected {t.text or 'end of file'!r} at top level")

    def extern_decl(self, anns: list[A.Annotation]) -> object:
        # `extern Name<T> { ... }` or `extern Ret fname<T>(params);`
        if (
            self.tok.kind == "ident"
            and self.peek().text in ("{", "<")
            and not (
                self.peek().text == "<"
                and self.peek(2).kind == "ident"
                and self._fn_after_generic()
            )
        ):
            name = self.ident()
            self.extern_names.add(name.text)
            self.type_names.add(name.text)
            tps = self.type_params()
            self.expect("{")
            methods = []
            while not self.accept("}"):
                manns = self.annotations()
                abstract = bool(self.accept("abstract"))
                if self.tok.text == name.text and self.peek().text == "(":
                    n = self.ident()
                    ps = self.params()
                    self.expect(";")
                    methods.append(A.MethodDecl(n.loc, n.text, manns, None, [], ps))
                    continue
                ret = self.type_ref()
                n = self.ident()
                mtps = self.type_params()
                ps = self.params()
                self.expect(";")
                methods.append(A.MethodDecl(n.loc, n.text, manns, ret, mtps, ps, abstract))
            return A.ExternDecl(name.loc, name.text, anns, tps, methods)
        ret = self.type_ref()
        name = self.ident()
        tps = self.type_params()
        ps = self.params()
        self.expect(";")
        return A.ExternFuncDecl(name.loc, name.text, anns, ret, tps, ps)

    def _fn_after_generic(self) -> bool:
        """After `extern Name <`: a function `extern T<..> f(` has ident + `(` after `>`."""
        j = self.i + 1
        depth = 0
        while j < len(self.toks):
            t = self.toks[j]
            if t.text == "<":
                depth += 1
            elif t.text == ">":
                depth -= 1
                if depth == 0:
                    return self.toks[j + 1].kind == "ident"
            j += 1
        return False

    def parser_decl(self, anns: list[A.Annotation]) -> object:
        name = self.ident()
        tps = self.type_params()
        ps = self.params()
        self.type_names.add(name.text)
        self.block_type_names.add(name.text)
        if self.accept(";"):
            return A.TypeDeclP(name.loc, name.text, anns, "parser", tps, ps)
        ctor = self.params() if self.at("(") else []
        self.expect("{")
        local_decls = []
        states = []
        while not self.accept("}"):
            sanns = self.annotations()
            if self.accept("state"):
                sname = self.ident("a state name")
                self.expect("{")
                stmts = []
                trans = None
                while not self.accept("}"):
                    if self.accept("transition"):
                        if self.accept("select"):
                            sl = self.tok.loc
                            self.expect("(")
                            exprs = [self.expr()]
                            while self.accept(","):
                                exprs.append(self.expr())
                            self.expect(")")
                            self.expect("{")
                            cases = []
                            while not self.accept("}"):
                                kl = self.tok.loc
                                ks = self.keyset()
                                self.expect(":")
                                st = self.ident("a state name")
                                self.expect(";")
                                cases.append(A.SelectCase(kl, ks, A.Name(st.loc, st.text)))
                            trans = A.SelectExpr(sl, exprs, cases)
                        else:
                            st = self.ident("a state name")
                            self.expect(";")
                            trans = A.Name(st.loc, st.text)
                        self.expect("}", "'}' after the transition")
                        break
                    stmts.append(self.statement())
                states.append(A.ParserState(sname.loc, sname.text, sanns, stmts, trans))
            else:
                local_decls.append(self.local_decl(sanns))
        return A.ParserDecl(name.loc, name.text, anns, tps, ps, ctor, local_decls, states)

    def local_decl(self, anns: list[A.Annotation]) -> object:
        t = self.tok
        if self.accept("const"):
            ty = self.type_ref()
            name = self.ident()
            self.expect("=")
            v = self.expr()
            self.expect(";")
            return A.ConstDecl(name.loc, name.text, anns, ty, v)
        if self.accept("action"):
            return self.action_decl(anns)
        if self.accept("table"):
            return self.table_decl(anns)
        if self._at_declaration() or (t.kind == "ident" and self.peek().text == "("):
            return self.var_or_instance(anns)
        raise error(t.loc, f"unexpected {t.text or 'end of file'!r} in a parser or control")

    def control_decl(self, anns: list[A.Annotation]) -> object:
        name = self.ident()
        tps = self.type_params()
        ps = self.params()
        self.type_names.add(name.text)
        self.block_type_names.add(name.text)
        if self.accept(";"):
            return A.TypeDeclP(name.loc, name.text, anns, "control", tps, ps)
        ctor = self.params() if self.at("(") else []
        self.expect("{")
        local_decls = []
        body = None
        while not self.accept("}"):
            lanns = self.annotations()
            if self.at("apply") and self.peek().text == "{":
                self.expect("apply")
                body = self.block()
                continue
            local_decls.append(self.local_decl(lanns))
        if body is None:
            raise error(name.loc, f"control {name.text} has no apply block")
        return A.ControlDecl(name.loc, name.text, anns, tps, ps, ctor, local_decls, body)

    def action_decl(self, anns: list[A.Annotation]) -> A.ActionDecl:
        name = self.ident("an action name")
        ps = self.params()
        return A.ActionDecl(name.loc, name.text, anns, ps, self.block())

    def table_decl(self, anns: list[A.Annotation]) -> A.TableDecl:
        name = self.ident("a table name")
        self.expect("{")
        props = []
        while not self.accept("}"):
            panns = self.annotations()
            const = bool(self.accept("const"))
            pt = self.tok
            pname = self.ident("a table property").text
            if pname == "key":
                self.expect("=")
                self.expect("{")
                keys = []
                while not self.accept("}"):
                    start = self.i
                    e = self.expr()
                    text = self._key_text(self.toks[start : self.i])
                    self.expect(":")
                    mk = self.ident("a match kind")
                    kanns = self.annotations()
                    self.expect(";")
                    keys.append(A.KeyElement(e.loc, e, mk.text, kanns, text))  # type: ignore[attr-defined]
                props.append(A.TableProperty(pt.loc, "key", keys, const, panns))
            elif pname == "actions":
                self.expect("=")
                self.expect("{")
                refs = []
                while not self.accept("}"):
                    aanns = self.annotations()
                    al = self.tok.loc
                    e = self.expr()
                    self.expect(";")
                    refs.append(self._action_ref(e, al, aanns))
                props.append(A.TableProperty(pt.loc, "actions", refs, const, panns))
            elif pname == "entries":
                self.expect("=")
                self.expect("{")
                entries = []
                while not self.accept("}"):
                    eanns = self.annotations()
                    el = self.tok.loc
                    prio = None
                    if self.accept("priority"):
                        self.expect("=")
                        prio = self.expr()
                        self.expect(":")
                    ks = self.keyset()
                    keys = ks.items if isinstance(ks, A.ListExpr) else [ks]
                    self.expect(":")
                    al = self.tok.loc
                    act = self._action_ref(self.expr(), al, [])
                    self.expect(";")
                    entries.append(A.EntryDecl(el, keys, act, prio, eanns))
                props.append(A.TableProperty(pt.loc, "entries", entries, const, panns))
            else:
                self.expect("=")
                v = self.expr()
                self.expect(";")
                if pname == "default_action":
                    v = self._action_ref(v, v.loc, [])  # type: ignore[attr-defined]
                props.append(A.TableProperty(pt.loc, pname, v, const, panns))
        return A.TableDecl(name.loc, name.text, anns, props)

    @staticmethod
    def _key_text(toks: list[Token]) -> str:
        return "".join(t.text for t in toks)

    @staticmethod
    def _action_ref(e: object, loc: Loc, anns: list[A.Annotation]) -> A.ActionRef:
        if isinstance(e, A.Call):
            return A.ActionRef(loc, e.func, e.args, anns)
        if isinstance(e, A.Name):
            return A.ActionRef(loc, e, [], anns)
        raise error(loc, "expected an action name or call")


def parse(src: str, file: str) -> A.Program:
    return Parser(tokenize(src, file)).program()
