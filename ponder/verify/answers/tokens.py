"""Tokens of an answer written in LaTeX or in plain text (``sqrt(2)/2``, ``x >= 5``, ``1/2``).

A token is a tuple ``(kind, value, space_before, from_text)``:

- ``num``   a number literal as written (``"3.50"``, ``"1e-5"``)
- ``word``  a run of letters (``x``, ``cm``, ``Evelyn``); the parser decides between symbols, units and words
- ``cmd``   a LaTeX command without its backslash (``frac``, ``le``, ``{`` for ``\\{``, ``\\`` for a row break)
- ``op``    punctuation and operators (``+ - * / ^ _ ( ) [ ] { } , ; : = < > <= >= != ! ' | & %``)
- ``begin`` / ``end``  an environment name (``pmatrix``)

Text commands (``\\text{...}``, ``\\mbox{...}``) are spliced in: their content is tokenised in place with
``from_text=True``, so ``12\\text{ and }13`` reads as ``12 and 13`` and ``5\\text{ cm}`` as ``5 cm``.
"""

from __future__ import annotations

import re

from ponder.verify.answers.normalize import find_group_end


class ParseError(ValueError):
    """The answer is not something the parser understands; callers fall back to comparing text."""


MAX_TOKENS = 3000
MAX_TEXT_NESTING = 8

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>\d+\.(?=\\overline)|(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+(?![a-zA-Z0-9]))?)"
    r"|(?P<cmd>\\(?:[a-zA-Z]+|.))"
    r"|(?P<word>[a-zA-Z]+)"
    r"|(?P<dots>\.\.\.+|\u2026)"
    r"|(?P<op><=|>=|!=|=<|=>|==|\*\*|:=|[-+*/^_()\[\]{},;:=<>!'|&%\u00b0])"
    r"|(?P<other>.)",
    re.S,
)

# Commands whose brace argument is text (spliced in as words).
TEXT_CMDS = frozenset(
    "text textbf textit textrm textnormal textsf texttt textup mbox hbox emph mathrm mathbf mathit mathsf "
    "mathtt boldsymbol bm mathnormal operatorname".split()
)
# Commands whose argument is dropped with them.
DROP_ARG_CMDS = frozenset("label tag color phantom hphantom vphantom ref eqref".split())
# Commands dropped without arguments.
DROP_CMDS = frozenset("hline nonumber notag centering noindent circ relax".split())
# Commands that end a derivation: only what follows them is the answer.
THEREFORE_CMDS = frozenset("Rightarrow implies Longrightarrow therefore Longleftrightarrow iff".split())
_CMD = re.compile(r"\\[a-zA-Z]+|\\.", re.S)
SET_LETTERS = {"R": "reals", "Z": "integers", "N": "naturals", "Q": "rationals", "C": "complexes"}


def tokenize(s: str, *, _from_text: bool = False, _nesting: int = 0) -> list[tuple]:
    """Split ``s`` into tokens (see the module docstring). Raises ParseError on input that is not math."""
    out: list[tuple] = []
    pos = 0
    n = len(s)
    space = False
    while pos < n:
        m = _TOKEN.match(s, pos)
        kind = m.lastgroup
        val = m.group(kind)
        pos = m.end()
        if kind == "ws":
            space = True
            continue
        if kind == "dots":
            kind, val = "cmd", "\\dots"
        if kind == "other":
            if val in '.?#"`@':
                space = True
                continue
            raise ParseError(f"unexpected character {val!r}")
        if kind == "cmd":
            name = val[1:]
            if (
                name in TEXT_CMDS
                or name == "mathbb"
                or name in DROP_ARG_CMDS
                or name in ("textcolor", "begin", "end")
            ):
                arg, pos = _read_arg(s, pos)
                if name in DROP_ARG_CMDS:
                    space = True
                    continue
                if name == "textcolor":
                    _, pos = _read_arg(s, pos)  # textcolor{red}{X}: keep X as ordinary input
                    continue
                if name in ("begin", "end"):
                    env = arg.strip()
                    out.append((name, env, space, _from_text))
                    if name == "begin" and env in ("array", "tabular") and pos < n:
                        _, pos = _read_arg(s, pos)  # the column spec {cc}
                    space = False
                    continue
                if name == "mathbb":
                    out.append(("cmd", "set:" + SET_LETTERS.get(arg.strip(), arg.strip()), space, _from_text))
                    space = False
                    continue
                if _nesting >= MAX_TEXT_NESTING:
                    raise ParseError("text nested too deeply")
                inner = arg.replace("$", " ")
                text_mode = name.startswith("text") or name in (
                    "mbox",
                    "hbox",
                    "emph",
                    "operatorname",
                    "mathrm",
                )
                sub = tokenize(inner, _from_text=text_mode or _from_text, _nesting=_nesting + 1)
                if sub:
                    first = sub[0]
                    sub[0] = (first[0], first[1], space or first[2], first[3])
                out.extend(sub)
                space = bool(arg[-1:].isspace())
                if len(out) > MAX_TOKENS:
                    raise ParseError("answer too long")
                continue
            if name in DROP_CMDS:
                space = True
                continue
            if name in THEREFORE_CMDS:
                out.clear()
                space = True
                continue
            if name == "not":
                out.append(("op", "!", space, _from_text))
                space = False
                continue
            if name in ("lbrace", "rbrace"):
                name = "{" if name == "lbrace" else "}"
            elif name in ("lbrack", "rbrack"):
                out.append(("op", "[" if name == "lbrack" else "]", space, _from_text))
                space = False
                continue
            out.append(("cmd", name, space, _from_text))
        else:
            if kind == "op" and out and val == "=" and out[-1][:2] == ("op", "!"):
                out[-1] = ("op", "!=", out[-1][2], _from_text)  # \not= and !=
                space = False
                continue
            out.append((kind, val, space, _from_text))
        space = False
        if len(out) > MAX_TOKENS:
            raise ParseError("answer too long")
    return out


def _read_arg(s: str, pos: int) -> tuple[str, int]:
    """The argument after a command: a brace group, or a single character."""
    n = len(s)
    while pos < n and s[pos] == " ":
        pos += 1
    if pos >= n:
        return "", pos
    if s[pos] == "{":
        end = find_group_end(s, pos)
        if end < 0:
            raise ParseError("unbalanced braces")
        return s[pos + 1 : end - 1], end
    if s[pos] == "\\":
        m = _CMD.match(s, pos)
        return m.group(0), m.end()
    return s[pos], pos + 1
