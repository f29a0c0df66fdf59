"""Syntax tree of a P4_16 program, as the parser builds it (untyped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softswitch.core.lexer import Loc


@dataclass(eq=False)
class Node:
    loc: Loc


@dataclass(eq=False)
class Annotation(Node):
    name: str
    args: list[Any]  # parsed expressions when possible, else raw token texts
    raw: str  # the body between the parentheses as written, for P4Info


# ---- types (syntax) -------------------------------------------------------------------------
@dataclass(eq=False)
class TBits(Node):
    width: Any  # expression or None for `int`
    signed: bool
    varbit: bool = False


@dataclass(eq=False)
class TName(Node):
    name: str
    args: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class TStack(Node):
    elem: Any
    size: Any


@dataclass(eq=False)
class TSimple(Node):
    name: str  # bool, error, string, void, match_kind, _


@dataclass(eq=False)
class TTuple(Node):
    elems: list[Any]


# ---- expressions ----------------------------------------------------------------------------
@dataclass(eq=False)
class Lit(Node):
    value: int
    width: int | None
    signed: bool


@dataclass(eq=False)
class BoolLit(Node):
    value: bool


@dataclass(eq=False)
class StrLit(Node):
    value: str


@dataclass(eq=False)
class Name(Node):
    name: str
    dotted_prefix: bool = False  # `.name`: top-level scope


@dataclass(eq=False)
class Member(Node):
    expr: Any
    name: str
    name_loc: Loc | None = None  # where the member name is (errors about the member)


@dataclass(eq=False)
class Index(Node):
    expr: Any
    index: Any


@dataclass(eq=False)
class Slice(Node):
    expr: Any
    hi: Any
    lo: Any


@dataclass(eq=False)
class Unary(Node):
    op: str
    expr: Any


@dataclass(eq=False)
class Binary(Node):
    op: str
    left: Any
    right: Any


@dataclass(eq=False)
class Cond(Node):
    cond: Any
    then: Any
    other: Any


@dataclass(eq=False)
class Cast(Node):
    type: Any
    expr: Any


@dataclass(eq=False)
class Arg(Node):
    name: str | None
    expr: Any  # None for `_` (don't care) is represented by DontCare


@dataclass(eq=False)
class Call(Node):
    func: Any
    type_args: list[Any]
    args: list[Arg]


@dataclass(eq=False)
class ListExpr(Node):
    items: list[Any]


@dataclass(eq=False)
class StructExpr(Node):
    type: Any  # None when untyped `{a = 1, b = 2}`
    fields: list[tuple[str, Any]]


@dataclass(eq=False)
class Mask(Node):
    value: Any
    mask: Any


@dataclass(eq=False)
class RangeExpr(Node):
    lo: Any
    hi: Any


@dataclass(eq=False)
class Default(Node):
    pass


@dataclass(eq=False)
class DontCare(Node):
    pass


@dataclass(eq=False)
class TypeExpr(Node):
    """A type used where an expression is expected (`lookahead<T>`, `sizeInBits(T)`)."""

    type: Any


# ---- statements -----------------------------------------------------------------------------
@dataclass(eq=False)
class Assign(Node):
    lhs: Any
    rhs: Any


@dataclass(eq=False)
class CallStmt(Node):
    call: Call


@dataclass(eq=False)
class If(Node):
    cond: Any
    then: Any
    other: Any


@dataclass(eq=False)
class Block(Node):
    stmts: list[Any]


@dataclass(eq=False)
class SwitchCase(Node):
    label: Any  # expression, Default, or Name of an action
    body: Block | None  # None: falls through to the next case


@dataclass(eq=False)
class SwitchStmt(Node):
    expr: Any
    cases: list[SwitchCase]


@dataclass(eq=False)
class Exit(Node):
    pass


@dataclass(eq=False)
class Return(Node):
    expr: Any


@dataclass(eq=False)
class Empty(Node):
    pass


# ---- declarations ---------------------------------------------------------------------------
@dataclass(eq=False)
class Decl(Node):
    name: str
    annotations: list[Annotation]


@dataclass(eq=False)
class Field(Decl):
    type: Any


@dataclass(eq=False)
class HeaderDecl(Decl):
    fields: list[Field]
    union: bool = False


@dataclass(eq=False)
class StructDecl(Decl):
    fields: list[Field]


@dataclass(eq=False)
class EnumDecl(Decl):
    underlying: Any  # TBits or None
    members: list[tuple[str, Any, Loc]]


@dataclass(eq=False)
class ErrorDecl(Decl):
    members: list[tuple[str, Loc]]


@dataclass(eq=False)
class MatchKindDecl(Decl):
    members: list[tuple[str, Loc]]


@dataclass(eq=False)
class TypedefDecl(Decl):
    type: Any
    newtype: bool = False


@dataclass(eq=False)
class ConstDecl(Decl):
    type: Any
    value: Any


@dataclass(eq=False)
class VarDecl(Decl):
    type: Any
    init: Any


@dataclass(eq=False)
class Param(Decl):
    direction: str  # "", in, out, inout
    type: Any
    default: Any = None


@dataclass(eq=False)
class MethodDecl(Decl):
    ret: Any
    type_params: list[str]
    params: list[Param]
    abstract: bool = False


@dataclass(eq=False)
class ExternDecl(Decl):
    type_params: list[str]
    methods: list[MethodDecl]  # constructors have ret None and name == extern name


@dataclass(eq=False)
class ExternFuncDecl(Decl):
    ret: Any
    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class TypeDeclP(Decl):
    """`parser P<..>(...);`, `control C<..>(...);` or `package V1Switch<..>(...);`."""

    kind: str
    type_params: list[str]
    params: list[Param]


@dataclass(eq=False)
class Instantiation(Decl):
    type: Any
    args: list[Arg]


@dataclass(eq=False)
class ActionDecl(Decl):
    params: list[Param]
    body: Block


@dataclass(eq=False)
class TableProperty(Node):
    name: str
    value: Any
    const: bool
    annotations: list[Annotation]


@dataclass(eq=False)
class KeyElement(Node):
    expr: Any
    match_kind: str
    annotations: list[Annotation]
    text: str  # the key expression as p4c prints it


@dataclass(eq=False)
class ActionRef(Node):
    name: Any  # Name
    args: list[Arg]
    annotations: list[Annotation]


@dataclass(eq=False)
class EntryDecl(Node):
    keys: list[Any]
    action: ActionRef
    priority: Any
    annotations: list[Annotation]


@dataclass(eq=False)
class TableDecl(Decl):
    properties: list[TableProperty]


@dataclass(eq=False)
class ParserState(Decl):
    stmts: list[Any]
    transition: Any  # Name, SelectExpr, or None (reject/accept implied)


@dataclass(eq=False)
class SelectCase(Node):
    keyset: Any  # expression, ListExpr of keysets, Default, DontCare
    state: Name


@dataclass(eq=False)
class SelectExpr(Node):
    exprs: list[Any]
    cases: list[SelectCase]


@dataclass(eq=False)
class ParserDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Any]
    states: list[ParserState]


@dataclass(eq=False)
class ControlDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Any]
    body: Block


@dataclass(eq=False)
class FunctionDecl(Decl):
    ret: Any
    params: list[Param]
    body: Block


@dataclass(eq=False)
class Program(Node):
    decls: list[Any]
