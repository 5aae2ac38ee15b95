"""Primaries of the answer parser: numbers, words, commands, brackets, sets, functions, sums.

Split from :mod:`ponder.verify.answers.latex` (the operator levels); ``Parser`` mixes this class in.
"""

from __future__ import annotations

from fractions import Fraction

from ponder.verify.answers.latex_numbers import NumberWords
from ponder.verify.answers.tokens import ParseError
from ponder.verify.answers.vocab import (
    APPLY_LETTERS,
    CONNECTORS,
    CONST_WORDS,
    DECOR_CMDS,
    DOTS,
    FUNCS,
    GREEK,
    INVERSE,
    NEG_ONE,
    ONE,
    PCT_WORDS,
    mk_div,
    number,
    sub_name,
)


class PrimaryParser(NumberWords):
    """Primaries, and the words and numbers between them (units, mixed numbers); relies on the token
    helpers and operator levels of ``Parser``."""

    def _starts_factor(self, t: tuple) -> bool:
        kind, val = t[0], t[1]
        if kind == "num":
            return True
        if kind == "word":
            return val.lower() not in CONNECTORS and val.lower() not in PCT_WORDS
        if kind == "op":
            return val in ("(", "{") or (val == "|" and self.abs_depth == 0)
        if kind == "cmd":
            return (
                val
                in (
                    "frac",
                    "sqrt",
                    "binom",
                    "pi",
                    "infty",
                    "lfloor",
                    "lceil",
                    "langle",
                    "sum",
                    "prod",
                    "imath",
                )
                or val in FUNCS
                or val in GREEK
                or val in DECOR_CMDS
                or val == "Gamma"
            )
        return kind == "begin"

    def parse_primary(self) -> tuple:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> tuple:
        t = self.take()
        kind, val = t[0], t[1]
        if kind == "num":
            return number(val)
        if kind == "op":
            if val in ("(", "["):
                return self.parse_bracketed(val)
            if val == "{":
                self.i -= 1
                return self.parse_brace()
            if val == "|":
                return self._delimited("|", "abs")
            raise ParseError(f"unexpected {val!r}")
        if kind == "word":
            return self._word(t)
        if kind == "begin":
            from ponder.verify.answers.latex_envs import parse_env

            return parse_env(self, val)
        if kind != "cmd":
            raise ParseError(f"unexpected {val!r}")
        return self._command(val)

    def _command(self, val: str) -> tuple:
        if val == "frac":
            a = self.parse_arg()
            return mk_div(a, self.parse_arg())
        if val == "sqrt":
            if self.at("op", "["):
                self.take()
                index = self.parse_expr()
                self.expect("op", "]")
                return ("func", "root", (self.parse_arg(), index))
            return ("func", "sqrt", (self.parse_arg(),))
        if val == "binom":
            a = self.parse_arg()
            return ("func", "binom", (a, self.parse_arg()))
        if val in FUNCS:
            return self.parse_function(FUNCS[val])
        if val == "operatorname":
            raise ParseError("operatorname without name")
        if val == "pi":
            return ("const", "pi")
        if val in ("infty", "infin"):
            return ("const", "inf")
        if val in ("imath", "jmath"):
            return ("const", "i")
        if val in ("emptyset", "varnothing"):
            return ("empty",)
        if val == "{":
            return self.parse_set()
        if val == "|" or val == "Vert":
            return self._delimited(("cmd", val), "abs")
        if val in ("lvert", "vert"):
            return self._delimited(("cmd", "rvert" if val == "lvert" else "vert"), "abs")
        if val == "lfloor":
            return self._delimited(("cmd", "rfloor"), "floor")
        if val == "lceil":
            return self._delimited(("cmd", "rceil"), "ceil")
        if val == "langle":
            items = self.parse_items(("cmd", "rangle"))
            return ("vec", tuple(items))
        if val == "Gamma" and self.at("op", "("):
            return self.parse_function("gamma")
        if val in GREEK or val == "Gamma":
            return ("sym", val)
        if val in DOTS:
            return ("ellipsis",)
        if val.startswith("set:"):
            name = val[4:]
            return ("reals",) if name == "reals" else ("numset", name)
        if val in DECOR_CMDS:
            inner = self.parse_arg()
            return ("sym", val + "(" + sub_name(inner) + ")")
        if val in ("sum", "prod"):
            return self.parse_bigop(val)
        if val in ("angle", "triangle", "measuredangle"):
            name = ""
            while self.at("word") and not self.peek()[2]:
                name += self.take()[1]
            return ("sym", val + " " + name)
        if val.isalpha() and val not in ("int", "iint", "oint", "lim", "frac", "over", "choose", "end"):
            return ("sym", val)  # an unknown command names something: \zzz is a symbol
        raise ParseError(f"unsupported command \\{val}")

    def _word(self, t: tuple) -> tuple:
        val = t[1]
        low = val.lower()
        if low in FUNCS and (self.at("op", "(") or self.latex or low in ("sqrt", "ln", "log")):
            return self.parse_function(FUNCS[low])
        if low == "sqrt":
            return ("func", "sqrt", (self.parse_arg(),))
        if low in CONST_WORDS and len(val) > 1:
            return ("const", CONST_WORDS[low])
        if len(val) == 1:
            if val == "e":
                return ("const", "e")
            if val == "i":
                return ("const", "i")
            if self.at("op", "(") and not self.peek()[2] and (val in APPLY_LETTERS):
                return self._apply(val)
            if self.at("op", "'") and self.peek(1)[:2] == ("op", "(") and val in APPLY_LETTERS:
                self.take()
                return self._apply(val + "'")
            return ("sym", val)
        if t[3] or (not self.latex and len(val) >= 3):
            return ("sym", val)  # a name from \text{...} or a plain word
        # Letters written together in math mode multiply: 2ab is 2*a*b.
        syms = [("const", c) if c in "ei" else ("sym", c) for c in val]
        return ("mul", tuple(syms))

    def _apply(self, name: str) -> tuple:
        self.take()
        args = self.parse_items(("op", ")"))
        return ("apply", name, tuple(args))

    def _delimited(self, closer, func: str) -> tuple:
        closer_tok = ("op", closer) if isinstance(closer, str) else closer
        self.abs_depth += 1
        try:
            inner = self.parse_expr()
        finally:
            self.abs_depth -= 1
            self.in_set_builder = False
        self.expect(*closer_tok)
        return ("func", func, (inner,))

    def _items_until(self, closers: tuple[tuple, ...], what: str) -> tuple[list, str]:
        """Relations separated by ``,`` or ``;`` up to one of ``closers``; returns them and the closer taken."""
        items = []
        while True:
            items.append(self.parse_relation())
            if self.at("op", ",") or self.at("op", ";"):
                self.take()
                continue
            for closer in closers:
                if self.at(*closer):
                    return items, self.take()[1]
            raise ParseError(f"unclosed {what}")

    def parse_items(self, closer: tuple) -> list:
        return self._items_until((closer,), "group")[0]

    def parse_bracketed(self, opener: str) -> tuple:
        self.enter()
        try:
            items, closer = self._items_until((("op", ")"), ("op", "]")), "bracket")
        finally:
            self.depth -= 1
        if len(items) == 1:
            if (opener, closer) in (("(", ")"), ("[", "]")):
                return items[0]
            raise ParseError("half-open bracket around one item")
        return ("seq", opener, closer, tuple(items))

    def parse_brace(self) -> tuple:
        self.expect("op", "{")
        self.enter()
        try:
            if self.at("op", "}"):
                raise ParseError("empty group")
            node = self.parse_groups(frozenset({("op", "}")}))
            if self.at("cmd", "over") or self.at("cmd", "choose"):
                how = self.take()[1]
                right = self.parse_groups(frozenset({("op", "}")}))
                node = mk_div(node, right) if how == "over" else ("func", "binom", (node, right))
            self.expect("op", "}")
            return node
        finally:
            self.depth -= 1

    def parse_set(self) -> tuple:
        if self.at("cmd", "}"):
            self.take()
            return ("empty",)
        items = []
        # Inside a set, "|" and ":" separate a set builder {x | x > 2}: they open no |x| and no ratio.
        self.abs_depth += 1
        self.in_set_builder = True
        try:
            while True:
                items.append(self.parse_relation())
                self.in_set_builder = False
                if len(items) == 1 and (self.at("op", "|") or self.at("cmd", "mid") or self.at("op", ":")):
                    self.take()
                    condition = self.parse_relation()
                    self.expect("cmd", "}")
                    return condition
                if self.at("op", ",") or self.at("op", ";") or (self.at("word") and self.peek()[1] == "and"):
                    self.take()
                    continue
                if self.at("cmd", "}"):
                    self.take()
                    return ("set", tuple(items))
                raise ParseError("unclosed set")
        finally:
            self.abs_depth -= 1

    def parse_arg(self) -> tuple:
        """One argument of \\frac, \\sqrt, ^ or _: a brace group or a single character."""
        t = self.peek()
        if t[0] == "op" and t[1] == "{":
            return self.parse_brace()
        if t[0] == "num" and self.latex and len(t[1]) > 1 and t[1][0].isdigit():
            self.t[self.i] = ("num", t[1][1:], False, t[3])
            return number(t[1][0])
        if t[0] == "word" and len(t[1]) > 1:
            self.t[self.i] = ("word", t[1][1:], False, t[3])
            c = t[1][0]
            return ("const", c) if c in "ei" else ("sym", c)
        return self.parse_primary()

    def parse_function(self, name: str) -> tuple:
        power = None
        base = None
        for _ in range(2):
            if self.at("op", "^"):
                self.take()
                power = self.parse_exponent()
            elif self.at("op", "_") and name in ("log", "lg"):
                self.take()
                base = self.parse_arg()
        if power in (NEG_ONE, ("neg", ONE)) and name in INVERSE:
            name, power = INVERSE[name], None
        if self.at("op", "("):
            self.take()
            args = tuple(self.parse_items(("op", ")")))
        elif self.at("op", "{"):
            args = (self.parse_brace(),)
        else:
            args = (self._simple_argument(),)
        if base is not None:
            node = ("func", "log", (args[0], base))
        elif name == "lg":
            node = ("func", "log", (args[0], ("num", Fraction(10), None, None)))
        else:
            node = ("func", "log" if name == "ln" else name, args)
        return node if power is None else ("pow", node, power)

    def _simple_argument(self) -> tuple:
        # \sin 2x is sin(2x); \sin b \cos a stops at \cos.
        factors = [self.parse_power()]
        while True:
            t = self.peek()
            if (
                t[0] == "num"
                or (t[0] == "word" and len(t[1]) == 1)
                or (t[0] == "cmd" and (t[1] in GREEK or t[1] in ("pi", "frac", "sqrt")))
            ):
                factors.append(self.parse_power())
            else:
                break
        return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def parse_bigop(self, op: str) -> tuple:
        lo = hi = None
        var = None
        for _ in range(2):
            if self.at("op", "_"):
                self.take()
                sub = self.parse_arg()
                if sub[0] != "rel" or sub[2] != ("=",) or sub[1][0][0] != "sym":
                    raise ParseError("unsupported sum index")
                var, lo = sub[1][0][1], sub[1][1]
            elif self.at("op", "^"):
                self.take()
                hi = self.parse_arg()
        if var is None or hi is None:
            raise ParseError("sum without bounds")
        body = self.parse_term()
        return ("bigop", op, var, lo, hi, body)
