"""Elementwise chains as small expressions: `relu(x + b)`, `x * sigmoid(x)`, a user's `--expr`.

The grammar (no Python is ever evaluated; the text is tokenized and parsed here):
    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := '-' unary | power
    power := atom ('**' unary)?
    atom  := NUMBER | 'x' | 'b' | NAME '(' expr (',' expr)* ')' | '(' expr ')'
x is the input tensor, b a bias broadcast along its last axis; NAME is one of FUNCTIONS, each an
elementwise op of the op table. Limits on length, ops and nesting keep hostile text cheap to
refuse; every refusal is a UserInputError naming the position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mlxa.errors import UserInputError

MAX_CHARS = 400
MAX_OPS = 64
MAX_DEPTH = 24

# name -> (op table op, arity). The backends (studies/fusion_backends.py) map each of these.
FUNCTIONS: dict[str, tuple[str, int]] = {
    "relu": ("relu", 1), "sigmoid": ("sigmoid", 1), "tanh": ("tanh", 1), "exp": ("exp", 1),
    "log": ("log", 1), "sqrt": ("sqrt", 1), "abs": ("abs", 1), "neg": ("neg", 1),
    "reciprocal": ("reciprocal", 1), "erf": ("erf", 1), "silu": ("silu", 1),
    "max": ("max", 2), "min": ("min", 2),
}
BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/(),]))")


@dataclass(frozen=True)
class Var:
    name: str  # "x" or "b"


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Call:
    op: str  # an op table name
    args: tuple[Expr, ...]


Expr = Var | Num | Call


def parse(text: str) -> Expr:
    """The expression tree of `text`, or a UserInputError saying where it went wrong."""
    if len(text) > MAX_CHARS:
        raise UserInputError(f"--expr: longer than {MAX_CHARS} characters")
    if not text.isascii() or not text.isprintable():
        raise UserInputError("--expr: only printable ASCII is accepted")
    parser = _Parser(text, _tokens(text))
    tree = parser.expr(0)
    if parser.pos < len(parser.tokens):
        parser.fail("unexpected text")
    if not uses_x(tree):
        raise UserInputError("--expr: the expression must use x")
    if count_ops(tree) == 0:
        raise UserInputError("--expr: the expression needs at least one op")
    return tree


def _tokens(text: str) -> list[tuple[str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise UserInputError(f"--expr: unexpected character {text[pos]!r} at {pos + 1}")
        tokens.append((m.group(m.lastindex or 0), m.start(m.lastindex or 0)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, int]]) -> None:
        self.text, self.tokens, self.pos, self.ops = text, tokens, 0, 0

    def fail(self, what: str) -> None:
        where = self.tokens[self.pos][1] + 1 if self.pos < len(self.tokens) else len(self.text)
        raise UserInputError(f"--expr: {what} at character {where} of {self.text!r}")

    def peek(self) -> str:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if not tok or (expected is not None and tok != expected):
            self.fail(f"expected {expected!r}" if expected else "unexpected end")
        self.pos += 1
        return tok

    def call(self, op: str, *args: Expr) -> Call:
        self.ops += 1
        if self.ops > MAX_OPS:
            self.fail(f"more than {MAX_OPS} ops")
        return Call(op, args)

    def expr(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH}")
        left = self.term(depth)
        while self.peek() in ("+", "-"):
            left = self.call(BINARY[self.take()], left, self.term(depth))
        return left

    def term(self, depth: int) -> Expr:
        left = self.unary(depth)
        while self.peek() in ("*", "/"):
            left = self.call(BINARY[self.take()], left, self.unary(depth))
        return left

    def unary(self, depth: int) -> Expr:
        if self.peek() == "-":
            self.take()
            if depth > MAX_DEPTH:
                self.fail(f"nested deeper than {MAX_DEPTH}")
            return self.call("neg", self.unary(depth + 1))
        base = self.atom(depth)
        if self.peek() == "**":
            self.take()
            return self.call("pow", base, self.unary(depth + 1))
        return base

    def atom(self, depth: int) -> Expr:
        tok = self.take()
        if tok == "(":
            inner = self.expr(depth + 1)
            self.take(")")
            return inner
        if tok[0].isdigit() or tok[0] == ".":
            value = float(tok)
            if not math.isfinite(value):
                self.pos -= 1
                self.fail("a number too large")
            return Num(value)
        if tok in ("x", "b"):
            return Var(tok)
        if tok in FUNCTIONS:
            return self.function(tok, depth)
        self.pos -= 1
        self.fail(f"unknown name {tok[:20]!r} (known: x, b, {', '.join(sorted(FUNCTIONS))})"
                  if tok[0].isalpha() or tok[0] == "_" else f"unexpected {tok!r}")
        raise AssertionError  # fail raised

    def function(self, name: str, depth: int) -> Expr:
        op, arity = FUNCTIONS[name]
        self.take("(")
        args = [self.expr(depth + 1)]
        while self.peek() == ",":
            self.take()
            args.append(self.expr(depth + 1))
        self.take(")")
        if len(args) != arity:
            self.pos -= 1
            self.fail(f"{name} takes {arity} argument{'s' if arity > 1 else ''}")
        return self.call(op, *args)


def uses_x(e: Expr) -> bool:
    return (isinstance(e, Var) and e.name == "x") or (
        isinstance(e, Call) and any(uses_x(a) for a in e.args))


def count_ops(e: Expr) -> int:
    return 1 + sum(count_ops(a) for a in e.args) if isinstance(e, Call) else 0


def show(e: Expr) -> str:
    """The expression written back in the grammar (fully parenthesised)."""
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Num):
        return repr(e.value)
    sym = {v: k for k, v in BINARY.items()}
    if e.op in sym and len(e.args) == 2:
        return f"({show(e.args[0])} {sym[e.op]} {show(e.args[1])})"
    return f"{e.op}({', '.join(show(a) for a in e.args)})"
