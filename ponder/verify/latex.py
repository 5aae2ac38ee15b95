"""Parse an answer (LaTeX or plain text) into a small tree of tuples.

Nodes (first item is the kind; children are tuples so nodes are hashable and picklable):

- ``("num", Fraction, ulp_exp, sig)``  a number literal; decimals keep the exponent of their last written
  digit (``3.14`` -> -2) and their count of significant digits, integers have ``None`` for both
- ``("sym", name)``, ``("const", "pi" | "e" | "i" | "inf")``
- ``("add", terms)``, ``("mul", factors)``, ``("neg", x)``, ``("pow", base, exp)``
- ``("func", name, args)`` known functions (sin, sqrt, root, log, abs, fact, binom, ...);
  ``("apply", name, args)`` an unknown function such as ``f(x)``
- ``("pct", x)`` x percent; ``("pm", a, b)`` a ± b (``a`` may be None)
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

from ponder.verify.normalize import MAX_PARSE_CHARS, clean, text_key
from ponder.verify.tokens import ParseError, tokenize

MAX_DEPTH = 40
ONE = ("num", Fraction(1), None, None)
NEG_ONE = ("num", Fraction(-1), None, None)

FUNCS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot", "cosec": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsec": "asec", "arccsc": "acsc", "arccot": "acot",
    "asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "coth": "coth", "sech": "sech", "csch": "csch", "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh",
    "log": "log", "ln": "ln", "lg": "lg", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "floor": "floor",
    "ceil": "ceil", "gcd": "gcd", "lcm": "lcm", "max": "max", "min": "min", "det": "det", "sgn": "sgn",
    "sign": "sgn", "arg": "arg", "Re": "re", "Im": "im", "deg": "deg", "lcd": "lcm",
}
INVERSE = {"sin": "asin", "cos": "acos", "tan": "atan", "sec": "asec", "csc": "acsc", "cot": "acot"}
GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron "
    "rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Delta Theta Lambda Xi Sigma Upsilon "
    "Phi Psi Omega ell hbar aleph".split()
)
REL_CMDS = {
    "le": "<=", "leq": "<=", "leqslant": "<=", "leqq": "<=", "ge": ">=", "geq": ">=", "geqslant": ">=",
    "geqq": ">=", "ne": "!=", "neq": "!=", "lt": "<", "gt": ">", "approx": "~", "sim": "~", "simeq": "~",
    "thickapprox": "~", "doteq": "~", "equiv": "=", "cong": "=", "in": "in", "notin": "notin",
    "subseteq": "in", "subset": "in",
}
REL_OPS = {"=": "=", "==": "=", ":=": "=", "<": "<", ">": ">", "<=": "<=", "=<": "<=", ">=": ">=", "=>": ">=", "!=": "!="}
MUL_CMDS = frozenset(("cdot", "times", "ast", "star", "bullet", "cdotp"))
DECOR_CMDS = frozenset("overline bar hat vec tilde widehat widetilde overrightarrow overleftrightarrow dot ddot mathring".split())
DOTS = frozenset("dots ldots cdots vdots ddots dotsc dotsb dotso".split())
CONST_WORDS = {"pi": "pi", "inf": "inf", "infty": "inf", "infinity": "inf", "oo": "inf"}
PCT_WORDS = frozenset(("percent", "percentage", "pct", "percents"))
CONNECTORS = frozenset(("and", "or"))
UNIT_WORDS = frozenset(
    "cm mm km kg mg ml ft yd mi hr hrs min mins sec secs lb lbs oz mph kph kmh sq cu am pm st nd rd th "
    "dm nm gb mb kb ms hz kw".split()
)
APPLY_LETTERS = frozenset("fghFGHPQW")
KNOWN_WORDS = frozenset(FUNCS) | frozenset(CONST_WORDS) | PCT_WORDS | CONNECTORS | frozenset(("sqrt", "mod"))


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
        return ("text", text_key(s))
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


def mk_add(terms: list) -> tuple:
    return terms[0] if len(terms) == 1 else ("add", tuple(terms))


def mk_div(a: tuple, b: tuple) -> tuple:
    # Integer over integer stays one exact literal: the common \frac{1}{2} costs nothing later.
    if a[0] == "num" and b[0] == "num" and a[2] is None and b[2] is None and b[1] != 0:
        return ("num", a[1] / b[1], None, None)
    return ("mul", (a, ("pow", b, NEG_ONE)))


def number(text: str) -> tuple:
    mant, _, exp = text.lower().partition("e")
    exp10 = int(exp) if exp else 0
    if "." not in mant and not exp:
        return ("num", Fraction(int(mant)), None, None)
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0") or "0"
    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if abs(exp10) > 400:
        raise ParseError("exponent too large")
    value *= Fraction(10) ** exp10
    return ("num", value, exp10 - len(frac), len(digits))


class Parser:
    def __init__(self, toks: list[tuple], latex: bool):
        self.t = toks
        self.i = 0
        self.latex = latex
        self.depth = 0
        self.abs_depth = 0

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
        while self.at("op", ":") or self.at("cmd", "colon"):
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
            folded = _scientific(factors[0], factors[1])
            if folded is not None:
                return folded
        return factors[0] if len(factors) == 1 else ("mul", tuple(factors))

    def _mixed_number(self, factors: list) -> tuple | None:
        """``2\\frac{1}{2}`` and ``2 1/2`` are mixed numbers (5/2), the common reading in answers."""
        if len(factors) != 1:
            return None
        f = factors[0]
        sign = 1
        if f[0] == "neg":
            sign, f = -1, f[1]
        if f[0] != "num" or f[2] is not None or f[1].denominator != 1 or f[1] < 0:
            return None
        t0, t1, t2, t3, t4 = (self.peek(k) for k in range(5))
        if t0[:2] == ("cmd", "frac") and t1[:2] == ("op", "{") and t2[0] == "num" and t3[:2] == ("op", "}"):
            save = self.i
            self.take()
            num = self.parse_arg()
            den = self.parse_arg()
            if num[0] == "num" and den[0] == "num" and num[2] is None and den[2] is None and den[1] > 0:
                return ("num", sign * (f[1] + num[1] / den[1]), None, None)
            self.i = save
            return None
        if not self.latex and t0[0] == "num" and t0[2] and t1[:2] == ("op", "/") and t2[0] == "num" and not t1[2]:
            if "." in t0[1] or "." in t2[1] or (t3[0] == "op" and t3[1] in "^/"):
                return None
            den = int(t2[1])
            if den == 0:
                return None
            self.i += 3
            return ("num", sign * (f[1] + Fraction(int(t0[1]), den)), None, None)
        return None

    def _unit_here(self) -> bool:
        t = self.peek()
        if t[0] != "word":
            return False
        low = t[1].lower()
        if low in KNOWN_WORDS:
            return False
        if low in UNIT_WORDS or t[3]:
            return True
        return len(t[1]) >= (4 if self.latex else 3)

    def _skip_unit(self) -> None:
        self.take()
        if self.at("op", "^"):
            self.take()
            if self.at("op", "{"):
                self.parse_arg()
            elif self.at("num"):
                self.take()
        while self.at("word") and self._unit_here():
            self.take()

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
                val in ("frac", "sqrt", "binom", "pi", "infty", "lfloor", "lceil", "langle", "sum", "prod", "imath")
                or val in FUNCS
                or val in GREEK
                or val in DECOR_CMDS
                or val == "Gamma"
            )
        return kind == "begin"

    def parse_unary(self) -> tuple:
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
        while True:
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
            elif kind == "op" and val == "_":
                self.take()
                node = self._subscript(node)
            elif kind == "cmd" and val == "overline" and node[0] == "num" and node[2] is not None and not t[2]:
                self.take()
                node = self._repeating(node, self.parse_raw_digits())
            else:
                break
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
            from ponder.verify.latex_envs import parse_env

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
        self.expect(*closer_tok)
        return ("func", func, (inner,))

    def parse_items(self, closer: tuple) -> list:
        items = []
        while True:
            items.append(self.parse_relation())
            if self.at("op", ",") or self.at("op", ";"):
                self.take()
                continue
            if self.at(*closer):
                self.take()
                return items
            raise ParseError("unclosed group")

    def parse_bracketed(self, opener: str) -> tuple:
        self.enter()
        try:
            items = []
            while True:
                items.append(self.parse_relation())
                if self.at("op", ",") or self.at("op", ";"):
                    self.take()
                    continue
                if self.at("op", ")") or self.at("op", "]"):
                    closer = self.take()[1]
                    break
                raise ParseError("unclosed bracket")
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
        while True:
            items.append(self.parse_relation())
            if self.at("op", ",") or self.at("op", ";") or (self.at("word") and self.peek()[1] == "and"):
                self.take()
                continue
            if self.at("cmd", "}"):
                self.take()
                return ("set", tuple(items))
            raise ParseError("unclosed set")

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
        if power is not None and power == NEG_ONE and name in INVERSE:
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
            if t[0] == "num" or (t[0] == "word" and len(t[1]) == 1) or (t[0] == "cmd" and (t[1] in GREEK or t[1] in ("pi", "frac", "sqrt"))):
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


def _scientific(m: tuple, p: tuple) -> tuple | None:
    """``1.5 \\times 10^{3}`` is one literal 1500 with the precision of its mantissa."""
    if m[0] == "neg":
        inner = _scientific(m[1], p)
        return None if inner is None else ("neg", inner)
    if m[0] != "num" or p[0] != "pow" or p[1][:2] != ("num", 10) or p[1][2] is not None:
        return None
    e = p[2]
    if e[0] == "neg" and e[1][0] == "num":
        e = ("num", -e[1][1], e[1][2], e[1][3])
    if e[0] != "num" or e[2] is not None or e[1].denominator != 1 or abs(e[1]) > 400:
        return None
    k = int(e[1])
    value = m[1] * Fraction(10) ** k
    if m[2] is None:
        return ("num", value, None, None)
    return ("num", value, m[2] + k, m[3])


def sub_name(node: tuple) -> str:
    """A readable, canonical name for a subscript or a decorated symbol (``a_{37}`` -> ``a_37``)."""
    kind = node[0]
    if kind == "num":
        v = node[1]
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if kind in ("sym", "const"):
        return node[1]
    if kind == "mul":
        return "".join(sub_name(x) for x in node[1])
    if kind == "add":
        return "+".join(sub_name(x) for x in node[1])
    if kind == "neg":
        return "-" + sub_name(node[1])
    if kind == "list":
        return ",".join(sub_name(x) for x in node[1])
    return repr(node)
