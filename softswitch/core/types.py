"""Types of checked P4 expressions and declarations."""

from __future__ import annotations

from dataclasses import dataclass, field


class Type:
    def __str__(self) -> str:  # pragma: no cover - overridden
        return type(self).__name__


@dataclass(frozen=True)
class Bits(Type):
    width: int
    signed: bool = False

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'bit'}<{self.width}>"

    @property
    def mask(self) -> int:
        return (1 << self.width) - 1


@dataclass(frozen=True)
class InfInt(Type):
    def __str__(self) -> str:
        return "int"


@dataclass(frozen=True)
class Bool(Type):
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Str(Type):
    def __str__(self) -> str:
        return "string"


@dataclass(frozen=True)
class Void(Type):
    def __str__(self) -> str:
        return "void"


@dataclass(frozen=True)
class ErrorT(Type):
    def __str__(self) -> str:
        return "error"


@dataclass(frozen=True)
class MatchKindT(Type):
    def __str__(self) -> str:
        return "match_kind"


@dataclass(eq=False)
class Enum(Type):
    name: str
    members: dict[str, int]
    underlying: Bits | None = None

    def __str__(self) -> str:
        return f"enum {self.name}"


@dataclass(eq=False)
class Header(Type):
    name: str
    fields: list[tuple[str, Type]]
    annotations: list = field(default_factory=list)
    py: str = ""  # generated class name

    def __str__(self) -> str:
        return f"header {self.name}"

    @property
    def width(self) -> int:
        return sum(scalar_width(t) or 0 for _, t in self.fields)

    def field_type(self, name: str) -> Type | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None


@dataclass(eq=False)
class Struct(Type):
    name: str
    fields: list[tuple[str, Type]]
    annotations: dict[str, list] = field(default_factory=dict)  # field -> annotations
    py: str = ""

    def __str__(self) -> str:
        return f"struct {self.name}"

    def field_type(self, name: str) -> Type | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None


@dataclass(eq=False)
class Stack(Type):
    elem: Header
    size: int

    def __str__(self) -> str:
        return f"{self.elem.name}[{self.size}]"


@dataclass(eq=False)
class ExternT(Type):
    name: str
    args: list[Type] = field(default_factory=list)

    def __str__(self) -> str:
        return f"extern {self.name}"


@dataclass(frozen=True)
class ListT(Type):
    """Type of `{a, b}` list expressions (tuples)."""

    elems: tuple[Type, ...]

    def __str__(self) -> str:
        return "tuple<" + ", ".join(map(str, self.elems)) + ">"


@dataclass(frozen=True)
class TableResultT(Type):
    table: str

    def __str__(self) -> str:
        return f"apply result of {self.table}"


@dataclass(frozen=True)
class ActionRunT(Type):
    table: str

    def __str__(self) -> str:
        return f"action_run of {self.table}"


BOOL = Bool()
INFINT = InfInt()
ERROR = ErrorT()
VOID = Void()
STR = Str()


def scalar_width(t: Type) -> int | None:
    """Bit width for a type usable as a field/key/param; None if it has none."""
    if isinstance(t, Bits):
        return t.width
    if isinstance(t, Bool):
        return 1
    if isinstance(t, Enum) and t.underlying is not None:
        return t.underlying.width
    return None
