"""Words and commands the answer parser knows, and small constructors of parse-tree nodes."""

from __future__ import annotations

from fractions import Fraction

from ponder.verify.answers.tokens import ParseError

ONE = ("num", Fraction(1), None, None)
NEG_ONE = ("num", Fraction(-1), None, None)

FUNCS = dict(
    pair.split(":")
    for pair in (
        "sin:sin cos:cos tan:tan sec:sec csc:csc cot:cot cosec:csc arcsin:asin arccos:acos arctan:atan "
        "arcsec:asec arccsc:acsc arccot:acot asin:asin acos:acos atan:atan sinh:sinh cosh:cosh tanh:tanh "
        "coth:coth sech:sech csch:csch arsinh:asinh arcosh:acosh artanh:atanh log:log ln:ln lg:lg exp:exp "
        "sqrt:sqrt abs:abs floor:floor ceil:ceil gcd:gcd lcm:lcm max:max min:min det:det sgn:sgn sign:sgn "
        "arg:arg Re:re Im:im deg:deg lcd:lcm"
    ).split()
)
INVERSE = {"sin": "asin", "cos": "acos", "tan": "atan", "sec": "asec", "csc": "acsc", "cot": "acot"}
GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron "
    "rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Delta Theta Lambda Xi Sigma Upsilon "
    "Phi Psi Omega ell hbar aleph".split()
)
REL_CMDS = dict(
    pair.split(":")
    for pair in (
        "le:<= leq:<= leqslant:<= leqq:<= ge:>= geq:>= geqslant:>= geqq:>= ne:!= neq:!= lt:< gt:> approx:~ "
        "sim:~ simeq:~ thickapprox:~ doteq:~ equiv:= cong:= in:in notin:notin subseteq:in subset:in"
    ).split()
)
REL_OPS = {
    "=": "=",
    "==": "=",
    ":=": "=",
    "<": "<",
    ">": ">",
    "<=": "<=",
    "=<": "<=",
    ">=": ">=",
    "=>": ">=",
    "!=": "!=",
}
MUL_CMDS = frozenset(("cdot", "times", "ast", "star", "bullet", "cdotp"))
DECOR_CMDS = frozenset(
    "overline bar hat vec tilde widehat widetilde overrightarrow overleftrightarrow dot ddot mathring".split()
)
DOTS = frozenset("dots ldots cdots vdots ddots dotsc dotsb dotso".split())
CONST_WORDS = {"pi": "pi", "inf": "inf", "infty": "inf", "infinity": "inf", "oo": "inf"}
PCT_WORDS = frozenset(("percent", "percentage", "pct", "percents"))
DEGREE_WORDS = frozenset(("degree", "degrees", "deg"))
NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
CONNECTORS = frozenset(("and", "or"))
UNIT_WORDS = frozenset(
    "cm mm km kg mg ml ft yd mi hr hrs min mins sec secs lb lbs oz mph kph kmh sq cu am pm st nd rd th "
    "dm nm gb mb kb ms hz kw".split()
)
APPLY_LETTERS = frozenset("fghFGHPQW")
KNOWN_WORDS = (
    frozenset(FUNCS)
    | frozenset(CONST_WORDS)
    | PCT_WORDS
    | DEGREE_WORDS
    | CONNECTORS
    | frozenset(("sqrt", "mod"))
)


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


def scientific(m: tuple, p: tuple) -> tuple | None:
    """``1.5 \\times 10^{3}`` is one literal 1500 with the precision of its mantissa."""
    if m[0] == "neg":
        inner = scientific(m[1], p)
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
