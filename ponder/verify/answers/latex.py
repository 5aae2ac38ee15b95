"""Parse an answer (LaTeX or plain text) into a small tree of tuples.

Nodes (first item is the kind; children are tuples so nodes are hashable and picklable):

- ``("num", Fraction, ulp_exp, sig)``  a number literal; decimals keep the exponent of their last written
  digit (``3.14`` -> -2) and their count of significant digits, integers have ``None`` for both
- ``("sym", name)``, ``("const", "pi" | "e" | "i" | "inf")``
- ``("add", terms)``, ``("mul", factors)``, ``("neg", x)``, ``("pow", base, exp)``
- ``("func", name, args)`` known functions (sin, sqrt, root, log, abs, fact, binom, ...);
  ``("apply", name, args)`` an unknown function such as ``f(x)``
- ``("pct", x)`` x percent; ``("deg", x)`` x degrees; ``("pm", a, b)`` a ± b (``a`` may be None)
- ``("seq", open, close, items)`` parenthesised items: a tuple, an interval or a point
- ``("set", items)``, ``("vec", items)``, ``("matrix", rows)``, ``("ratio", items)``
- ``("union", parts)``, ``("setop", op, a, b)``, ``("reals",)``, ``("empty",)``, ``("numset", name)``
- ``("rel", terms, ops)`` a chain of relations, ops among ``= < > <= >= != ~ in notin``
- ``("list", items, sep)`` answers separated by commas, ``and``, ``or`` (sep ``"or"``) or ``;``
- ``("text", key)`` a word answer; ``("base", digits, base)`` a number in another base (``204_5``)
- ``("bigop", "sum" | "prod", var, lo, hi, body)``, ``("ellipsis",)``

Parsing is recursive descent with a hard nesting limit, so any input returns (or raises ParseError)
in time linear in its length.
"""

from __future__ import annotations

from fractions import Fraction

from ponder.verify.answers.latex_primary import PrimaryParser
from ponder.verify.answers.normalize import MAX_PARSE_CHARS, clean, text_key
from ponder.verify.answers.tokens import ParseError, tokenize
from ponder.verify.answers.vocab import (
    CONNECTORS,
    DEGREE_WORDS,
    DOTS,
    KNOWN_WORDS,
    MUL_CMDS,
    NEG_ONE,
    NUMBER_WORDS,
    PCT_WORDS,
    REL_CMDS,
    REL_OPS,
    UNIT_WORDS,
    mk_add,
    scientific,
    sub_name,
)

MAX_DEPTH = 40
NO_SOLUTION = frozenset(
    ("nosolution", "nosolutions", "norealsolution", "norealsolutions", "emptyset", "thereisnosolution")
)


def parse(answer: str) -> tuple:
    """Parse one answer string into a node; raises ParseError when it is not understood."""
    if len(answer) > MAX_PARSE_CHARS:
        raise ParseError("answer too long to parse")
    s = clean(answer)
    if not s:
        raise ParseError("empty answer")
    toks = tokenize(s)
    if not toks:
        raise ParseError("empty answer")
    if _is_text(toks):
        word = s.strip().lower()
        if word in NUMBER_WORDS:
            return ("num", Fraction(NUMBER_WORDS[word]), None, None)  # "five" is 5
        key = text_key(s)
        if key in NO_SOLUTION:
            return ("empty",)
        return ("text", key)
    latex = "\\" in s or "{" in s
    return Parser(toks, latex).parse_answer()


def _is_text(toks: list[tuple]) -> bool:
    """A word answer: only words and light punctuation, with at least one word that is not math."""
    long_word = False
    for kind, val, _, _ in toks:
        if kind == "word":
            low = val.lower()
            if len(val) >= 3 and low not in KNOWN_WORDS and low not in UNIT_WORDS:
                long_word = True
        elif kind == "op" and val in "(),-':!":
            continue
        else:
            return False
    return long_word


class Parser(PrimaryParser):
    """Recursive descent over the tokens of one answer, lowest precedence first:

    groups (``;``) > lists (``,``, and, or) > relations (``= < \\le \\in``) > set operations (``\\cup``)
    > ratios (``:``) > sums (``+ - \\pm``) > products (``* / \\cdot``, juxtaposition, units) > signs
    > powers > postfix (``! % ° '`` subscripts) > primaries (:mod:`ponder.verify.answers.latex_primary`).
    """

    def __init__(self, toks: list[tuple], latex: bool):
        self.t = toks
        self.i = 0
        self.latex = latex
        self.depth = 0
        self.abs_depth = 0
        self.in_set_builder = False

    # ------------------------------------------------------------------ token helpers
    def peek(self, k: int = 0) -> tuple:
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "", False, False)

    def at(self, kind: str, val=None) -> bool:
        t = self.peek()
        return t[0] == kind and (val is None or t[1] == val)

    def take(self) -> tuple:
        t = self.peek()
        self.i += 1
        return t

    def expect(self, kind: str, val) -> None:
        if not self.at(kind, val):
            raise ParseError(f"expected {val!r}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nested too deeply")

    # ------------------------------------------------------------------ top levels
    def parse_answer(self) -> tuple:
        node = self.parse_groups(frozenset())
        if not self.at("eof"):
            raise ParseError(f"unexpected {self.peek()[1]!r}")
        return node

    def parse_groups(self, stop: frozenset) -> tuple:
        groups = [self.parse_list(stop)]
        while self.at("op", ";"):
            self.take()
            if self.at("eof") or self._at_stop(stop):
                break
            groups.append(self.parse_list(stop))
        return groups[0] if len(groups) == 1 else ("list", tuple(groups), ";")

    def _at_stop(self, stop: frozenset) -> bool:
        t = self.peek()
        return (t[0], t[1]) in stop

    def parse_list(self, stop: frozenset) -> tuple:
        items = []
        seps = set()
        while not self.at("eof") and not self._at_stop(stop) and not self.at("op", ";"):
            items.append(self.parse_relation())
            consumed = False
            while True:
                t = self.peek()
                if t[0] == "op" and t[1] == ",":
                    seps.add(",")
                elif t[0] == "word" and t[1].lower() in CONNECTORS:
                    seps.add(t[1].lower())
                elif t[0] == "cmd" and t[1] == "\\":
                    seps.add(",")
                else:
                    break
                self.take()
                consumed = True
            if not consumed:
                break
        if not items:
            raise ParseError("empty item")
        if len(items) == 1:
            return items[0]
        return ("list", tuple(items), "or" if "or" in seps else ",")

    def parse_relation(self) -> tuple:
        terms = [self.parse_setexpr()]
        ops = []
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] in REL_OPS:
                op = REL_OPS[t[1]]
            elif t[0] == "cmd" and t[1] in REL_CMDS:
                op = REL_CMDS[t[1]]
            elif t[0] == "op" and t[1] == "!" and self.peek(1)[0] == "cmd" and self.peek(1)[1] == "in":
                self.take()
                op = "notin"
            else:
                break
            self.take()
            ops.append(op)
            terms.append(self.parse_setexpr())
        if not ops:
            return terms[0]
        return ("rel", tuple(terms), tuple(ops))

    def parse_setexpr(self) -> tuple:
        node = self.parse_ratio()
        parts = [node]
        while True:
            t = self.peek()
            if t[0] == "cmd" and t[1] in ("cup", "bigcup"):
                self.take()
                parts.append(self.parse_ratio())
            elif t[0] == "word" and t[1] == "U":
                self.take()
                parts.append(self.parse_ratio())
            elif t[0] == "cmd" and t[1] in ("cap", "setminus", "backslash", "smallsetminus"):
                self.take()
                op = "cap" if t[1] == "cap" else "minus"
                left = parts[0] if len(parts) == 1 else ("union", tuple(parts))
                parts = [("setop", op, left, self.parse_ratio())]
            else:
                break
        return parts[0] if len(parts) == 1 else ("union", tuple(parts))

    def parse_ratio(self) -> tuple:
        items = [self.parse_expr()]
        while (self.at("op", ":") or self.at("cmd", "colon")) and not self.in_set_builder:
            self.take()
            items.append(self.parse_expr())
        return items[0] if len(items) == 1 else ("ratio", tuple(items))

    # ------------------------------------------------------------------ arithmetic
    def parse_expr(self) -> tuple:
        terms = [self.parse_term()]
        while True:
            t = self.peek()
            if t[0] == "op" and t[1] == "+":
                self.take()
                terms.append(self.parse_term())
            elif t[0] == "op" and t[1] == "-":
                self.take()
                terms.append(("neg", self.parse_term()))
            elif t[0] == "cmd" and t[1] in ("pm", "mp"):
                self.take()
                rhs = self.parse_term()
                terms = [("pm", mk_add(terms), rhs)]
            else:
                break
        return mk_add(terms)

    def parse_term(self) -> tuple:
        factors = [self.parse_unary()]
        while True:
            t = self.peek()
            kind, val = t[0], t[1]
            if (kind == "op" and val == "*") or (kind == "cmd" and val in MUL_CMDS):
                self.take()
                factors.append(self.parse_unary())
            elif (kind == "op" and val == "/") or (kind == "cmd" and val == "div"):
                self.take()
                if self._unit_here():
                    self._skip_unit()  # km/h after a unit
                    continue
                factors.append(("pow", self.parse_unary(), NEG_ONE))
            elif kind == "cmd" and val in ("bmod", "mod"):
                self.take()
                left = factors[0] if len(factors) == 1 else ("mul", tuple(factors))
                factors = [("func", "mod", (left, self.parse_unary()))]
            elif kind == "cmd" and val == "pmod":
                self.take()
                self.parse_arg()  # "3 \pmod{7}": the residue is the answer
            elif self._unit_here():
                self._skip_unit()
            elif self._starts_factor(t):
                mixed = self._mixed_number(factors)
                if mixed is not None:
                    factors = [mixed]
                    continue
                factors.append(self.parse_power())
            else:
                break
        if len(factors) == 2:
            folded = scientific(factors[0], factors[1])
            if folded is not None:
                return folded
        return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def parse_unary(self) -> tuple:
        self.enter()
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> tuple:
        t = self.peek()
        if t[0] == "op" and t[1] == "-":
            self.take()
            return ("neg", self.parse_unary())
        if t[0] == "op" and t[1] == "+":
            self.take()
            return self.parse_unary()
        if t[0] == "cmd" and t[1] in ("pm", "mp"):
            self.take()
            return ("pm", None, self.parse_unary())
        return self.parse_power()

    def parse_power(self) -> tuple:
        base = self.parse_postfix()
        if self.at("op", "^") or self.at("op", "**"):
            self.take()
            exp = self.parse_exponent()
            node = ("pow", base, exp)
            while self.at("op", "!"):
                self.take()
                node = ("func", "fact", (node,))
            return node
        return base

    def parse_exponent(self) -> tuple:
        self.enter()
        try:
            if self.at("op", "{"):
                return self.parse_brace()
            if not self.latex:
                return self.parse_unary()
            if self.at("op", "-"):
                self.take()
                return ("neg", self.parse_exponent())
            if self.at("cmd", "prime"):
                self.take()
                return ("sym", "'")
            return self.parse_arg()
        finally:
            self.depth -= 1

    def parse_postfix(self) -> tuple:
        node = self.parse_primary()
        for _ in range(MAX_DEPTH):
            t = self.peek()
            kind, val = t[0], t[1]
            if kind == "op" and val == "!":
                self.take()
                if self.at("op", "!") and not self.peek()[2]:
                    self.take()
                    node = ("func", "fact2", (node,))
                else:
                    node = ("func", "fact", (node,))
            elif kind == "op" and val == "'" or (kind == "cmd" and val == "prime"):
                self.take()
                if node[0] == "sym":
                    node = ("sym", node[1] + "'")
            elif kind == "op" and val == "%" or (kind == "word" and val.lower() in PCT_WORDS):
                self.take()
                node = ("pct", node)
            elif kind == "op" and val == "\u00b0" or (kind == "word" and val.lower() in DEGREE_WORDS):
                self.take()
                node = ("deg", node)
            elif kind == "cmd" and val in DOTS and node[0] == "num" and node[2] is not None and not t[2]:
                self.take()
                node = ("num", node[1], node[2], 99)  # 0.333...: the digits go on
            elif kind == "op" and val == "_":
                self.take()
                node = self._subscript(node)
            elif (
                kind == "cmd" and val == "overline" and node[0] == "num" and node[2] is not None and not t[2]
            ):
                self.take()
                node = self._repeating(node, self.parse_raw_digits())
            else:
                break
        else:
            raise ParseError("too many postfix operators")
        return node

    def _subscript(self, node: tuple) -> tuple:
        sub = self.parse_arg()
        if node[0] == "num" and node[2] is None and node[1].denominator == 1 and sub[0] == "num":
            base = int(sub[1])
            digits = str(node[1].numerator)
            if not 2 <= base <= 36 or any(int(c, 36) >= base for c in digits):
                raise ParseError("bad base literal")
            return ("base", digits, base)
        if node[0] == "sym":
            return ("sym", node[1] + "_" + sub_name(sub))
        if node[0] == "const" and node[1] in ("e", "i"):
            return ("sym", node[1] + "_" + sub_name(sub))
        if node[0] == "apply":
            return ("apply", node[1] + "_" + sub_name(sub), node[2])
        return node

    def parse_raw_digits(self) -> str:
        digits = self.parse_arg()
        if digits[0] != "num" or digits[2] is not None:
            raise ParseError("repeating part is not digits")
        return str(digits[1].numerator)

    def _repeating(self, node: tuple, rep: str) -> tuple:
        # 0.1\overline{6}: the written decimals are followed by the repeating block.
        decimals = -node[2]
        fixed = node[1]
        block = Fraction(int(rep), (10 ** len(rep) - 1) * 10**decimals)
        return ("num", fixed + block, None, None)

    # ------------------------------------------------------------------ primaries
