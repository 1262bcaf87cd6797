"""``$filter``: odata-query parses the expression, this module types it and writes SQL.

odata-query's own SQLAlchemy visitor binds literals without the column's type,
matches text with LIKE (case-insensitive on SQLite, ``%`` and ``_`` unescaped)
and lets SQL's NULL leak through ``not``; each would be a silent wrong answer.
The translation here checks operand types against the declared properties,
binds every literal with its counterpart's type, matches text exactly with
``instr``/``strpos``/``substr``, and keeps every predicate two-valued as OData
defines it (``null ne 'a'`` is true, ``not (null eq 'a')`` is true).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from dateutil.parser import isoparse
from odata_query import ast
from odata_query import exceptions as odata_exceptions
from odata_query.grammar import ODataLexer, ODataParser
from sqlalchemy import (
    ColumnElement,
    Date,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    cast,
    extract,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    true,
)
from sqlalchemy.types import TypeEngine

from embedded_api.odata.entities import Edm, EntitySet, Property
from embedded_api.odata.errors import BadRequest, NotImplementedFeature

TARGET = "$filter"
_IN_LIST = re.compile(r"\sin\s*\(", re.IGNORECASE)
# Functions $filter translates, in the order $metadata lists them.
FUNCTIONS = (
    "contains", "startswith", "endswith", "tolower", "toupper", "length", "trim",
    "year", "month", "day", "date",
)  # fmt: skip

# Limits that keep a hostile or runaway $filter a clear 400: nesting (Python's
# recursion, SQLite's expression depth of 1000), flat chains, and bound values
# (SQLite takes at most 32,766 per statement).
MAX_DEPTH = 100
MAX_CHAIN = 500
MAX_IN_VALUES = 10_000

_ORDERING = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}
_LITERAL_EDM: dict[type, Edm] = {
    ast.Integer: Edm.INT64,
    ast.Float: Edm.DOUBLE,
    ast.String: Edm.STRING,
    ast.Boolean: Edm.BOOLEAN,
    ast.Date: Edm.DATE,
    ast.DateTime: Edm.DATETIMEOFFSET,
}


@dataclass(frozen=True)
class Term:
    """A typed SQL expression; ``literal`` is set while a literal waits to be bound."""

    sql: ColumnElement[Any]
    edm: Edm | None  # None only for the null literal
    nullable: bool
    label: str
    literal: ast._Literal | None = None
    prop: Property | None = None

    @property
    def sql_type(self) -> TypeEngine[Any]:
        return self.prop.bind_type if self.prop is not None else self.sql.type


def _fail(message: str) -> NoReturn:
    raise BadRequest(message, target=TARGET)


def _not_implemented(message: str) -> NoReturn:
    raise NotImplementedFeature(message, target=TARGET)


def parse_filter(text: str) -> ast._Node:
    """The syntax tree of a ``$filter`` expression, or a BadRequest that says where it broke."""
    try:
        return ODataParser().parse(ODataLexer().tokenize(text))
    except odata_exceptions.TokenizingException as exc:
        _fail(f"$filter cannot be read from position {exc.token.index + 1}: {exc.token.value!r}.")
    except odata_exceptions.ParsingException as exc:
        if exc.eof or exc.token is None:
            _fail("$filter ends before the expression is complete.")
        index = exc.token.index
        near = text[index : index + 20]
        # odata-query reads ('A') as a value in parentheses, not as a list of one.
        hint = " A list of one value is written ('A',), or use eq." if _IN_LIST.search(text) else ""
        _fail(f"$filter is not valid OData at position {index + 1}, near {near!r}.{hint}")
    except odata_exceptions.UnknownFunctionException as exc:
        _fail(f"$filter uses the unknown function {exc.function_name}().")
    except odata_exceptions.ODataException as exc:
        _fail(f"$filter is not valid: {exc}")


class FilterTranslator:
    """Turns a ``$filter`` tree over one entity set into a two-valued SQL predicate."""

    def __init__(self, entity_set: EntitySet, dialect: str) -> None:
        self.entity_set = entity_set
        self.dialect = dialect
        self._depth = 0

    def translate(self, text: str) -> ColumnElement[bool]:
        term = self.visit(parse_filter(text))
        if term.edm is not Edm.BOOLEAN:
            _fail(
                f"$filter must be a true/false condition such as Sku eq 'A-100'; "
                f"{term.label} is {term.edm or 'null'}."
            )
        return self._strict(term)

    def visit(self, node: ast._Node) -> Term:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            _not_implemented(f"$filter does not support {type(node).__name__} expressions.")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                _fail(f"$filter is nested more than {MAX_DEPTH} levels deep.")
            return handler(self, node)
        finally:
            self._depth -= 1

    # Properties and literals

    def _identifier(self, node: ast.Identifier) -> Term:
        name = ".".join((*node.namespace, node.name))
        prop = self.entity_set.property(name)
        if prop is not None:
            return Term(prop.column, prop.edm, prop.nullable, prop.name, prop=prop)
        if self.entity_set.navigation(name) is not None:
            _not_implemented(
                f"$filter cannot use the navigation property {name}; "
                f"filter on its key property ({self.entity_set.navigation(name).via}) instead."
            )
        known = {p.name.lower(): p.name for p in self.entity_set.properties}
        hint = f" Did you mean {known[name.lower()]}?" if name.lower() in known else ""
        _fail(f"{self.entity_set.name} has no property {name!r}.{hint}")

    def _literal(self, node: ast._Literal) -> Term:
        edm = _LITERAL_EDM[type(node)]
        value = self._value(node, edm)
        return Term(literal(value), edm, False, _show(node), literal=node)

    def _boolean_literal(self, node: ast.Boolean) -> Term:
        return Term(true() if node.py_val else false(), Edm.BOOLEAN, False, node.val, literal=node)

    def _null(self, node: ast.Null) -> Term:
        return Term(null(), None, True, "null", literal=node)

    def _unsupported_literal(self, node: ast._Literal) -> Term:
        _fail(f"{_show(node)} cannot be compared with any property of this feed.")

    def _list(self, node: ast.List) -> Term:
        _fail("A list of values can only stand on the right of 'in'.")

    def _attribute(self, node: ast.Attribute) -> Term:
        _not_implemented(
            "$filter cannot follow navigation paths; filter on the key property "
            "(such as SeriesId) or on the columns this set carries (such as Sku)."
        )

    def _lambda(self, node: ast.CollectionLambda) -> Term:
        _not_implemented("$filter does not support any() or all().")

    # Binding

    def _value(self, node: ast._Literal, edm: Edm | None) -> Any:
        try:
            if isinstance(node, ast.DateTime):
                value = isoparse(node.val)
                if value.tzinfo is None:
                    _fail(f"{node.val} needs a time zone, such as {node.val}Z.")
                return value
            if isinstance(node, ast.Integer | ast.Float) and edm is Edm.DECIMAL:
                return Decimal(node.val)
            if isinstance(node, ast.Integer) and edm is Edm.DOUBLE:
                return float(node.val)
            return node.py_val
        except (ValueError, OverflowError, InvalidOperation):
            _fail(f"{_show(node)} is not a valid value.")

    def _bind(self, term: Term, counterpart: Term) -> ColumnElement[Any]:
        """``term``'s SQL; a literal is bound with the type of what it is compared to."""
        if term.literal is None or counterpart.literal is not None or term.edm is None:
            return term.sql
        if isinstance(term.literal, ast.Boolean):
            return term.sql
        target = counterpart.edm
        sql_type: TypeEngine[Any]
        if target is Edm.DECIMAL or (target in (Edm.INT32, Edm.INT64) and term.edm is Edm.DOUBLE):
            sql_type, target = Numeric(), Edm.DECIMAL
        elif target is Edm.DOUBLE:
            sql_type = Float()
        else:
            sql_type = counterpart.sql_type
        return literal(self._value(term.literal, target), sql_type)

    # Comparisons

    def _compare(self, node: ast.Compare) -> Term:
        left = self.visit(node.left)
        if isinstance(node.comparator, ast.In):
            return self._in(left, node.right)
        right = self.visit(node.right)
        label = f"{left.label} {_op_name(node.comparator)} {right.label}"
        if left.edm is None or right.edm is None:
            return self._compare_null(node.comparator, left, right, label)
        self._check_comparable(left, right, node.comparator)
        a, b = self._bind(left, right), self._bind(right, left)
        if isinstance(node.comparator, ast.Eq | ast.NotEq):
            expr = self._equality(isinstance(node.comparator, ast.Eq), left, right, a, b)
        else:
            guards = [t.is_not(None) for t, term in ((a, left), (b, right)) if term.nullable]
            expr = and_(*guards, _COMPARE[type(node.comparator)](a, b))
        return Term(expr, Edm.BOOLEAN, False, label)

    @staticmethod
    def _equality(
        equal: bool, left: Term, right: Term, a: ColumnElement[Any], b: ColumnElement[Any]
    ) -> ColumnElement[bool]:
        if left.nullable and right.nullable:
            return a.is_not_distinct_from(b) if equal else a.is_distinct_from(b)
        if left.nullable or right.nullable:
            maybe_null = a if left.nullable else b
            if equal:
                return and_(maybe_null.is_not(None), a == b)
            return or_(maybe_null.is_(None), a != b)
        return a == b if equal else a != b

    def _compare_null(
        self, comparator: ast._Comparator, left: Term, right: Term, label: str
    ) -> Term:
        if not isinstance(comparator, ast.Eq | ast.NotEq):
            _fail(f"{label}: null can only be compared with eq or ne.")
        equal = isinstance(comparator, ast.Eq)
        other = right if left.edm is None else left
        if other.edm is None:
            return Term(true() if equal else false(), Edm.BOOLEAN, False, label)
        if not other.nullable:
            # A value that is never null: no row is null, every row is non-null.
            return Term(false() if equal else true(), Edm.BOOLEAN, False, label)
        expr = other.sql.is_(None) if equal else other.sql.is_not(None)
        return Term(expr, Edm.BOOLEAN, False, label)

    def _check_comparable(self, left: Term, right: Term, comparator: ast._Comparator) -> None:
        assert left.edm is not None
        assert right.edm is not None
        op = _op_name(comparator)
        if left.edm == right.edm or (left.edm.numeric and right.edm.numeric):
            if left.edm is Edm.BOOLEAN and op not in ("eq", "ne"):
                _fail(f"{left.label} {op} {right.label}: true/false values compare with eq or ne.")
            return
        hint = ""
        if {left.edm, right.edm} == {Edm.DATE, Edm.DATETIMEOFFSET}:
            hint = (
                " Compare a date property with a date (2024-01-31), a date-time property with"
                " a date-time (2024-01-31T00:00:00Z), or use date() on the date-time."
            )
        _fail(
            f"{left.label} ({left.edm}) cannot be compared with {right.label} ({right.edm}).{hint}"
        )

    def _in(self, left: Term, right_node: ast._Node) -> Term:
        items = right_node.val if isinstance(right_node, ast.List) else [right_node]
        if len(items) > MAX_IN_VALUES:
            _fail(f"'in' takes at most {MAX_IN_VALUES} values; this list has {len(items)}.")
        values = []
        for item in items:
            if not isinstance(item, ast._Literal) or isinstance(item, ast.Null | ast.List):
                _fail(f"'in' takes a list of values, such as {left.label} in ('A', 'B').")
            term = self.visit(item)
            self._check_comparable(left, term, ast.In())
            values.append(self._bind(term, left))
        expr = left.sql.in_(values)
        if left.nullable:
            expr = and_(left.sql.is_not(None), expr)
        return Term(expr, Edm.BOOLEAN, False, f"{left.label} in (...)")

    # Logic and arithmetic

    def _strict(self, term: Term) -> ColumnElement[bool]:
        """A predicate that is never NULL, so that ``not`` means what OData says."""
        if term.nullable:
            return func.coalesce(term.sql, false())
        return term.sql

    def _boolean(self, node: ast._Node) -> Term:
        term = self.visit(node)
        if term.edm is not Edm.BOOLEAN:
            _fail(f"{term.label} is not a true/false condition.")
        return term

    def _bool_op(self, node: ast.BoolOp) -> Term:
        # A chain (a or b or c ...) is read flat rather than recursively: BI tools
        # send hundreds of alternatives when a user picks values from a list.
        kind = type(node.op)
        operands = _chain(node, kind)
        if kind is ast.Or:
            operands = _equalities_as_in(operands)
        if len(operands) > MAX_CHAIN:
            _fail(
                f"$filter combines {len(operands)} conditions with "
                f"'{'and' if kind is ast.And else 'or'}'; at most {MAX_CHAIN} are accepted "
                "(for many values of one property, use 'in')."
            )
        terms = [self._boolean(operand) for operand in operands]
        combine = and_ if kind is ast.And else or_
        name = " and " if kind is ast.And else " or "
        label = name.join(t.label for t in terms[:3]) + (name + "..." if len(terms) > 3 else "")
        sql = combine(*(self._strict(t) for t in terms))
        return Term(sql, Edm.BOOLEAN, False, label)

    def _unary(self, node: ast.UnaryOp) -> Term:
        if isinstance(node.op, ast.Not):
            operand = self._boolean(node.operand)
            return Term(not_(self._strict(operand)), Edm.BOOLEAN, False, f"not {operand.label}")
        if isinstance(node.operand, ast.Integer | ast.Float):
            negated = type(node.operand)("-" + node.operand.val.lstrip("+"))
            return self.visit(negated)
        operand = self.visit(node.operand)
        if operand.edm is None or not operand.edm.numeric:
            _fail(f"-{operand.label}: only numbers can be negated.")
        return Term(-operand.sql, operand.edm, operand.nullable, f"-{operand.label}")

    def _bin_op(self, node: ast.BinOp) -> Term:
        left, right = self.visit(node.left), self.visit(node.right)
        name = type(node.op).__name__.lower().replace("mult", "mul")
        label = f"{left.label} {name} {right.label}"
        for term in (left, right):
            if term.edm is None or not term.edm.numeric:
                _fail(f"{label}: arithmetic needs numbers; {term.label} is {term.edm or 'null'}.")
        assert left.edm is not None
        assert right.edm is not None
        edms = {left.edm, right.edm}
        integral = edms <= {Edm.INT32, Edm.INT64}
        edm = (
            Edm.DOUBLE if Edm.DOUBLE in edms else Edm.DECIMAL if Edm.DECIMAL in edms else Edm.INT64
        )
        a, b = self._bind(left, right), self._bind(right, left)
        nullable = left.nullable or right.nullable
        if isinstance(node.op, ast.Add):
            sql = a + b
        elif isinstance(node.op, ast.Sub):
            sql = a - b
        elif isinstance(node.op, ast.Mult):
            sql = a * b
        elif isinstance(node.op, ast.Div):
            # OData's div truncates between integers, as SQL's / does. A division by
            # zero is null on SQLite (and an error on PostgreSQL): treat it as nullable.
            sql = a // b if integral else a / b
            nullable = True
        else:
            if not integral:
                _fail(f"{label}: mod needs whole numbers.")
            sql = a % b
            nullable = True
        return Term(sql, edm, nullable, label)

    # Functions

    def _call(self, node: ast.Call) -> Term:
        name = node.func.name
        if name not in FUNCTIONS:
            _not_implemented(
                f"$filter does not support the function {name}(); "
                f"supported: {', '.join(FUNCTIONS)}."
            )
        args = [self.visit(arg) for arg in node.args]
        label = f"{name}({', '.join(a.label for a in args)})"
        nullable = any(a.nullable for a in args)
        if name in ("contains", "startswith", "endswith"):
            return self._match(name, args, label)
        (arg,) = args
        if name in ("tolower", "toupper", "trim", "length"):
            self._expect(arg, (Edm.STRING,), label)
            text = self._bind(arg, _TEXT)
            if name == "length":
                return Term(func.length(text, type_=Integer()), Edm.INT32, nullable, label)
            # SQLite folds case of ASCII letters only (no ICU); PostgreSQL folds all.
            sql_func = {"tolower": func.lower, "toupper": func.upper, "trim": func.trim}[name]
            return Term(sql_func(text, type_=String()), Edm.STRING, nullable, label)
        if name == "date":
            self._expect(arg, (Edm.DATETIMEOFFSET,), label)
            if self.dialect == "sqlite":
                # Stored as 'YYYY-MM-DD HH:MM:SS' text in UTC; CAST would read a number.
                sql = func.date(arg.sql, type_=Date())
            else:
                sql = cast(arg.sql, Date())
            return Term(sql, Edm.DATE, nullable, label)
        self._expect(arg, (Edm.DATE, Edm.DATETIMEOFFSET), label)
        sql = cast(extract(name, arg.sql), Integer())
        return Term(sql, Edm.INT32, nullable, label)

    def _expect(self, term: Term, edms: tuple[Edm, ...], label: str) -> None:
        if term.edm not in edms:
            _fail(f"{label}: {term.label} is {term.edm or 'null'}, not {' or '.join(edms)}.")

    def _match(self, name: str, args: list[Term], label: str) -> Term:
        for arg in args:
            self._expect(arg, (Edm.STRING,), label)
        text, part = (self._bind(arg, _TEXT) for arg in args)
        if name == "contains":
            position = func.instr if self.dialect == "sqlite" else func.strpos
            sql = position(text, part, type_=Integer()) > 0
        elif name == "startswith":
            sql = func.substr(text, 1, func.length(part)) == part
        else:
            start = func.length(text) - func.length(part) + 1
            sql = func.substr(text, start) == part
        guards = [arg.sql.is_not(None) for arg in args if arg.nullable]
        return Term(and_(*guards, sql), Edm.BOOLEAN, False, label)


def _chain(node: ast.BoolOp, kind: type) -> list[ast._Node]:
    """The operands of a run of the same operator, left to right, without recursion."""
    operands: list[ast._Node] = []
    pending: list[ast._Node] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.BoolOp) and isinstance(current.op, kind):
            pending.extend((current.right, current.left))
        else:
            operands.append(current)
    return operands


def _equalities_as_in(operands: list[ast._Node]) -> list[ast._Node]:
    """``X eq 'a' or X eq 'b'`` as ``X in ('a', 'b')``: one IN list, not a deep OR tree."""
    values: dict[str, list[ast._Literal]] = {}
    for operand in operands:
        pair = _property_equals_value(operand)
        if pair is not None:
            values.setdefault(pair[0].name, []).append(pair[1])
    merged: list[ast._Node] = []
    done: set[str] = set()
    for operand in operands:
        pair = _property_equals_value(operand)
        if pair is None or len(values[pair[0].name]) < 2:
            merged.append(operand)
        elif pair[0].name not in done:
            done.add(pair[0].name)
            merged.append(ast.Compare(ast.In(), pair[0], ast.List(values[pair[0].name])))
    return merged


def _property_equals_value(node: ast._Node) -> tuple[ast.Identifier, ast._Literal] | None:
    if not isinstance(node, ast.Compare) or not isinstance(node.comparator, ast.Eq):
        return None
    for one, other in ((node.left, node.right), (node.right, node.left)):
        if (
            isinstance(one, ast.Identifier)
            and not one.namespace
            and isinstance(other, ast._Literal)
            and not isinstance(other, ast.Null | ast.List)
        ):
            return one, other
    return None


_HANDLERS: dict[type, Callable[[FilterTranslator, Any], Term]] = {
    ast.Identifier: FilterTranslator._identifier,
    ast.Integer: FilterTranslator._literal,
    ast.Float: FilterTranslator._literal,
    ast.String: FilterTranslator._literal,
    ast.Date: FilterTranslator._literal,
    ast.DateTime: FilterTranslator._literal,
    ast.Boolean: FilterTranslator._boolean_literal,
    ast.Null: FilterTranslator._null,
    ast.Time: FilterTranslator._unsupported_literal,
    ast.Duration: FilterTranslator._unsupported_literal,
    ast.GUID: FilterTranslator._unsupported_literal,
    ast.Geography: FilterTranslator._unsupported_literal,
    ast.List: FilterTranslator._list,
    ast.Attribute: FilterTranslator._attribute,
    ast.CollectionLambda: FilterTranslator._lambda,
    ast.Compare: FilterTranslator._compare,
    ast.BoolOp: FilterTranslator._bool_op,
    ast.UnaryOp: FilterTranslator._unary,
    ast.BinOp: FilterTranslator._bin_op,
    ast.Call: FilterTranslator._call,
}

# What a string literal is bound as inside a function call.
_TEXT = Term(literal(""), Edm.STRING, False, "text", prop=None)


def _op_name(comparator: ast._Comparator) -> str:
    return {
        ast.Eq: "eq",
        ast.NotEq: "ne",
        ast.In: "in",
        **_ORDERING,
    }[type(comparator)]


def _show(node: ast._Literal) -> str:
    if isinstance(node, ast.String):
        return "'" + node.val.replace("'", "''") + "'"
    return str(getattr(node, "val", node))


def filter_predicate(entity_set: EntitySet, text: str, dialect: str) -> ColumnElement[bool]:
    """The SQL predicate of ``$filter=text`` on ``entity_set`` (BadRequest, NotImplemented)."""
    return FilterTranslator(entity_set, dialect).translate(text)
