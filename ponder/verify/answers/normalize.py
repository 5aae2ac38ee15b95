"""String-level clean-up of an answer before it is parsed.

Callers clean answers of at most ``MAX_PARSE_CHARS`` characters; every step is a plain string method or
a regex without nested quantifiers, so any such input is cleaned in a few milliseconds at most.

What is removed is what does not change the value of an answer: math delimiters, sizing commands
(``\\left``, ``\\bigl``), spacing (``\\,``, ``\\quad``, ``~``), a trailing full stop, degree signs,
currency signs, ``\\dfrac``/``\\tfrac`` variants, LaTeX thousands separators (``12{,}000``, ``12,\\!000``).
Degree signs in any spelling become one ``°`` for the parser. Units and words are left to the parser,
which knows whether a word follows a number (a unit) or stands alone (a text answer).
"""

from __future__ import annotations

import re

# Answers longer than this are compared as normalised text only, never parsed.
MAX_PARSE_CHARS = 4000

_UNICODE = {
    "\u2212": "-",
    "\u2013": "-",
    "\u00d7": r"\times ",
    "\u00f7": r"\div ",
    "\u00b7": r"\cdot ",
    "\u22c5": r"\cdot ",
    "\u03c0": r"\pi ",
    "\u221e": r"\infty ",
    "\u221a": r"\sqrt",
    "\u2264": r"\le ",
    "\u2265": r"\ge ",
    "\u2260": r"\ne ",
    "\u2248": r"\approx ",
    "\u222a": r"\cup ",
    "\u2229": r"\cap ",
    "\u2208": r"\in ",
    "\u00b1": r"\pm ",
    "\u2213": r"\mp ",
    "\u00b0": "\u00b0 ",
    "\u00bd": " 1/2",
    "\u2153": " 1/3",
    "\u2154": " 2/3",
    "\u00bc": " 1/4",
    "\u00be": " 3/4",
    "\u2074": "^4",
    "\u2205": r"\emptyset ",
    "\u211d": r"\mathbb{R}",
    "\u27e8": r"\langle ",
    "\u27e9": r"\rangle ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u200b": "",
    "\u2032": "'",
    "\uff0c": ",",
    "\uff1a": ":",
    "\u3002": ".",
    "\u00b2": "^2",
    "\u00b3": "^3",
    "\u03b1": r"\alpha ",
    "\u03b2": r"\beta ",
    "\u03b3": r"\gamma ",
    "\u03b8": r"\theta ",
    "\u03bb": r"\lambda ",
    "\u03bc": r"\mu ",
    "\u03c3": r"\sigma ",
    "\u03c6": r"\phi ",
    "\u03c9": r"\omega ",
    "\u0394": r"\Delta ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

# Commands that may reach us with a doubled backslash (JSON escaped twice): only well-known ones are
# repaired, so a matrix row break followed by a letter stays a row break.
_DOUBLED = re.compile(
    r"(?<!\\)\\\\(?=(?:frac|dfrac|tfrac|boxed|sqrt|text|mathrm|left|right|pi|infty|cdot|times|begin|end|le|ge|"
    r"leq|geq|neq|pm|circ|in|cup|cap|sin|cos|tan|log|ln|alpha|beta|theta)(?![a-zA-Z]))"
)
_SIZING = re.compile(r"\\(?:left|right|middle|[bB]igg?[lrm]?)(?![a-zA-Z])\s*\.?")
_STYLE = re.compile(
    r"\\(?:displaystyle|textstyle|scriptstyle|scriptscriptstyle|limits|nolimits|nonumber|notag)(?![a-zA-Z])"
)
# A row break (two backslashes) is matched first and kept, so that a row break followed by a space is
# not mistaken for the spacing command "\ ".
_SPACING = re.compile(r"\\\\|\\(?:q?quad|[,;:> ])|~|\\(?:hspace|vspace|hskip|kern)\*?\s*\{[^{}]*\}")
_NEG_SPACE = re.compile(r"(?<!\\)\\!\s*")
_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_BINOM_VARIANTS = re.compile(r"\\[dt]binom(?![a-zA-Z])")
# Degrees: ^\circ, ^{\circ}, with an optional temperature scale letter after it.
_DEGREES = re.compile(
    r"\^\s*\{?\s*\\circ\s*\}?(?:\s*(?:\\text\{\s*[CF]\s*\}|\\mathrm\{\s*[CF]\s*\}|[CF](?![a-zA-Z])))?|\\degree(?![a-zA-Z])|\\textdegree(?![a-zA-Z])"
)
_BRACED_COMMA = re.compile(r"(\d)\s*\{\s*,\s*\}\s*(?=\d)")
_THOUSANDS = re.compile(r"(?<![\d.,])([1-9]\d{0,2})((?:,\d{3})+)(?![\d])")
_SPACED_THOUSANDS = re.compile(r"(?<![\d.,/])([1-9]\d{0,2})((?: \d{3})+)(?![\d/.])")
_WS = re.compile(r"\s+")
# Trailing punctuation, but not the "..." of a repeating decimal.
_TRAILING = re.compile(r"(?<!\.)(?:[ ;,\n\t]|(?<!\.)\.(?!\.))+$")
# "\textbf{(C)} 12" (a choice marker before the value) and "approximately 3.14": only the value counts.
_LEADING_WORDS = re.compile(
    r"^(?:\\text(?:bf)?\s*\{\s*\(?[A-J]\)\s*\}|\([A-J]\)|(?:approximately|approx\.?|about|around|roughly|exactly)\b)"
    r"\s*(?:\\ |\\,|~)?\s*(?=\S)",
    re.I,
)
_ANSWER_PHRASE = re.compile(
    r"^\s*(?:\\text(?:bf)?\s*\{\s*)?(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?\s*\}?\s*", re.I
)
_LEADING_REL = re.compile(r"^(?:\\approx|\\sim|\\simeq|=|:)\s*(?=\S)")


def _space(m: re.Match) -> str:
    return m.group(0) if m.group(0) == "\\\\" else " "


def _fix_unicode(s: str) -> str:
    return _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s) if not s.isascii() else s


def strip_delimiters(s: str) -> str:
    """Remove math delimiters around the whole string (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``)."""
    s = s.strip()
    for _ in range(4):
        t = s
        if t.startswith("$$") and t.endswith("$$") and len(t) >= 4:
            t = t[2:-2]
        elif t.startswith("$") and t.endswith("$") and len(t) >= 2:
            t = t[1:-1]
        elif (t.startswith("\\(") and t.endswith("\\)")) or (t.startswith("\\[") and t.endswith("\\]")):
            t = t[2:-2]
        t = t.strip()
        if t == s:
            break
        s = t
    return s


def find_group_end(s: str, start: int) -> int:
    """Index just past the brace group opening at ``s[start] == '{'``, or -1 when unbalanced.

    Escaped braces (``\\{``) are not counted. Iterative, so nesting depth does not matter.
    """
    depth = 0
    i = start
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def unwrap_command(s: str, names: tuple[str, ...]) -> str:
    """Replace every ``\\name{X}`` (for the given names) by ``X``; unbalanced ones lose only the command."""
    if "\\" not in s:
        return s
    pat = re.compile(r"\\(?:" + "|".join(names) + r")(?![a-zA-Z])\s*")
    out = []
    pos = 0
    for _ in range(10000):
        m = pat.search(s, pos)
        if not m:
            break
        out.append(s[pos : m.start()])
        j = m.end()
        if j < len(s) and s[j] == "{":
            end = find_group_end(s, j)
            if end < 0:
                pos = j
                continue
            out.append(s[j + 1 : end - 1])
            pos = end
        else:
            pos = j
    out.append(s[pos:])
    return "".join(out)


def join_thousands(s: str) -> str:
    """``12,000`` -> ``12000`` and ``1 000 000`` -> ``1000000``.

    A single group inside brackets (``[1,100]``, ``(2,500)``) is left alone: there it is more likely an
    interval or a pair than a number with a separator.
    """
    if "," in s:

        def repl(m: re.Match) -> str:
            groups = m.group(2)
            if groups.count(",") == 1:
                before = s[max(0, m.start() - 8) : m.start()].rstrip()[-1:]
                after = s[m.end() : m.end() + 8].lstrip()[:1]
                if before in ("(", "[", ",", "\\{") or after in (")", "]", ","):
                    return m.group(0)
            return m.group(1) + groups.replace(",", "")

        s = _THOUSANDS.sub(repl, s)
    if " " in s:
        s = _SPACED_THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(" ", ""), s)
    return s


def clean(s: str) -> str:
    """Remove notation that does not change an answer's value (see the module docstring)."""
    s = _fix_unicode(s)
    if "\\\\" in s:
        s = _DOUBLED.sub(r"\\", s)
    s = strip_delimiters(s)
    s = _TRAILING.sub("", s)
    s = strip_delimiters(s)
    s = _ANSWER_PHRASE.sub("", s)
    s = _LEADING_WORDS.sub("", s)
    if "\\" in s:
        s = unwrap_command(s, ("boxed", "fbox", "framebox", "underline", "cancel", "hbox", "displaystyle"))
        s = _SIZING.sub(" ", s)
        s = _STYLE.sub("", s)
        s = _NEG_SPACE.sub("", s)
        s = _SPACING.sub(_space, s)
        s = _FRAC_VARIANTS.sub(r"\\frac", s)
        s = _BINOM_VARIANTS.sub(r"\\binom", s)
        s = _DEGREES.sub("\u00b0 ", s)  # one degree sign, read by the parser
        s = s.replace("\\%", "%").replace("\\$", " ").replace("\\#", "#")
    else:
        s = s.replace("~", " ")
    if "$" in s:
        s = s.replace("$", " ")
    if "{" in s:
        s = _BRACED_COMMA.sub(r"\1,", s)
    s = _WS.sub(" ", s).strip()
    s = _LEADING_REL.sub("", s)
    s = join_thousands(s)
    return _TRAILING.sub("", s)


_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|emph|textsf|texttt|operatorname)\s*"
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def text_key(s: str) -> str:
    """Normalised text for comparing word answers: lower case, letters and digits only."""
    s = _fix_unicode(s)
    s = _TEXT_CMD.sub("", s)
    s = s.replace("\\", " ").lower()
    return _NON_ALNUM.sub("", s)
