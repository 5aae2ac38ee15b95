"""Find the final answer in a model response.

Order (``extract_answer``):

1. Reasoning is dropped: only the text after the last ``</think>`` is searched; a response with an
   unclosed ``<think>`` was cut off while thinking and has no answer.
2. The last ``\\boxed{...}`` / ``\\fbox{...}`` (braces matched; ``\\boxed {x}`` and ``\\boxed 5`` too).
   Boxes written one after the other (``\\boxed{1}, \\boxed{2}``, ``\\boxed{-2} and \\boxed{1}``) are
   one answer, the list ``1, 2``. A "The final answer is X" written after the last box wins over it.
3. Unless ``strict``, the fallbacks in order:

   - ``"answer"``: what follows the last "final answer is" / "the answer is" / "Answer:"
   - ``"hash"``: GSM8K's ``#### 42``
   - ``"whole"``: the whole response, when it is short and is just an answer (``\\frac{10}{9}``)
   - ``"last_math"`` / ``"last_number"``: the last ``$...$``, ``\\(...\\)``, ``\\[...\\]`` span or the last
     number; when both are enabled, whichever ends later wins.

All searches are linear; fallbacks look at the last ``TAIL_CHARS`` characters only, so a 10 MB response
costs a few milliseconds.
"""

from __future__ import annotations

import re
from collections import deque

from ponder.verify.answers.normalize import find_group_end

DEFAULT_FALLBACKS = ("answer", "hash", "whole", "last_math", "last_number")
TAIL_CHARS = 20_000
MAX_JOINED_BOXES = 20
WHOLE_MAX_CHARS = 80

_TEXT_ARG = re.compile(r"\\(?:text|textbf|mbox|textnormal|mathrm)\s*\{([^{}]*)\}")
_GAP_OK = re.compile(r"^(?:\\q?quad|\\[,;(\[)\]]|[\s$,;.:&])*$")
_CONNECTOR = re.compile(r"(?:^|[^a-zA-Z])(?:and|or)(?:$|[^a-zA-Z])|[,;&]")
_WORD = re.compile(r"[A-Za-z]+")
_ANSWER = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:\*\*)?\s*(?:is\s*:?|:|=|be\s*:?)\s*(?:\*\*)?\s*(\\\[|\$\$?|\\\()?",
    re.I,
)
_FINAL = re.compile(r"final\s+answer\s+is\s*:?\s*(\\\[|\$\$?|\\\()?", re.I)
_ANSWER_LINE = re.compile(
    r"(?:^|\n)\s*(?:\*\*)?\s*(?:final\s+)?answer\s*(?:\*\*)?\s*[:.]?\s*(?:\*\*)?\s*\n", re.I
)
_HASH = re.compile(r"####\s*([^\n]*)")
# Spans are bounded in length so that unclosed delimiters cannot make the search quadratic.
_MATH = re.compile(
    r"\$\$(.{1,800}?)\$\$|\\\[(.{1,800}?)\\\]|\\\((.{1,800}?)\\\)"
    r"|(?<![\\$])\$(?!\$)((?:[^$\n\\]|\\.){1,800}?)\$",
    re.S,
)
_CLOSE_MATH = re.compile(r"((?:[^$\\]|\\[^\])]){1,800}?)(?:\$\$|\$|\\\]|\\\))", re.S)
_TOKEN_AFTER_BOX = re.compile(r"\\[a-zA-Z]+|[^\s$\\]+")
_NUMBER = re.compile(
    r"(?<![\w.^_])(?<!\^\{)(?<!_\{)-?(?:\d+\s+\d+/\d+(?![\d/])|(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+(?![\d/])|\d+)(?:\.\d+)?"
    r"(?:\s*/\s*\d+)?|\.\d+)(?:\s*(?:%|percent\b))?"
)
_SENTENCE_END = re.compile(r"\.\s|\.$|\n|\bI hope\b|;\s")
_LEADING_PHRASE = re.compile(
    r"^\s*(?:\\text(?:bf)?\s*\{\s*)?(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?\s*\}?\s*", re.I
)
_PLAIN_WORD = re.compile(r"(?<![\\a-zA-Z])[A-Za-z]{2,}")
_NOT_WHOLE = re.compile(r"\b(?:is|are|was|were|so|thus|therefore|hence|we|answer)\b|\n|\.\s", re.I)


def last_match(pattern: re.Pattern, text: str) -> re.Match | None:
    """The last match of ``pattern`` in ``text`` (one linear pass)."""
    found = deque(pattern.finditer(text), maxlen=1)
    return found[0] if found else None


def strip_thinking(text: str) -> str | None:
    """The part of ``text`` after its reasoning; None when the reasoning was never closed."""
    end = text.rfind("</think>")
    if end >= 0:
        return text[end + len("</think>") :]
    if "<think>" in text:
        return None
    return text


def last_boxed(text: str) -> str | None:
    """Content of the last box, joined with the boxes right before it when they form one list."""
    found = _last_boxed_span(text)
    return None if found is None else found[0]


def _last_boxed_span(text: str) -> tuple[str, int] | None:
    found: list[tuple[str, int, int]] = []
    pos = len(text)
    while len(found) < MAX_JOINED_BOXES:
        start = _rfind_box(text, pos)
        if start < 0:
            break
        content, end = _box_content(text, start)
        pos = start
        if content is None and not found and text[end : end + 1] == "{" and len(text) - end < 200:
            # A response cut off inside its last box: the box runs to the end of the text.
            content, end = text[end + 1 :].rstrip().rstrip("$.").rstrip(), len(text)
        if content is None or not content.strip():
            if found:
                break
            continue
        if found and not _joinable(text[end : found[-1][1]]):
            break
        found.append((content, start, end))
    if not found:
        return None
    answer = ", ".join(c.strip() for c, _, _ in reversed(found))
    return answer, found[0][2]


def _rfind_box(text: str, pos: int) -> int:
    i = max(text.rfind("\\boxed", 0, pos), text.rfind("\\fbox", 0, pos))
    while i >= 0:
        name_end = i + (6 if text.startswith("\\boxed", i) else 5)
        if name_end >= len(text) or not text[name_end].isalpha():
            return i
        i = max(text.rfind("\\boxed", 0, i), text.rfind("\\fbox", 0, i))
    return -1


def _box_content(text: str, start: int) -> tuple[str | None, int]:
    j = start + (6 if text.startswith("\\boxed", start) else 5)
    while j < len(text) and text[j] == " ":
        j += 1
    if j >= len(text):
        return None, j
    if text[j] == "{":
        end = find_group_end(text, j)
        if end < 0:
            return None, j
        return text[j + 1 : end - 1], end
    m = _TOKEN_AFTER_BOX.match(text, j)  # \boxed 5 or \boxed\pi: one token
    return (m.group(0), m.end()) if m else (None, j)


def _joinable(gap: str) -> bool:
    """Two boxes form one answer when only punctuation or a short connecting phrase separates them."""
    if len(gap) > 60:
        return False
    if _GAP_OK.match(gap):
        return True
    plain = _TEXT_ARG.sub(r" \1 ", gap)
    words = [w.lower() for w in _WORD.findall(plain)]
    if len(words) > 5 or "\n\n" in plain or ". " in plain:
        return False
    return "and" in words or "or" in words


def from_anchor(text: str) -> str | None:
    """The answer after the last "answer is" / "Answer:" (or on the line after a lone "Answer" line)."""
    tail = text[-TAIL_CHARS:]
    m = last_match(_ANSWER, tail)
    best = None
    if m is not None:
        best = _segment(tail, m.end(), math_open=m.group(1) is not None)
    line = last_match(_ANSWER_LINE, tail)
    if line is not None and (best is None or line.start() > m.start()):
        # "**Answer:**" alone on its line: the answer is on the next one.
        best = _segment(tail, line.end(), math_open=False) or best
    return best


def _segment(text: str, pos: int, *, math_open: bool) -> str | None:
    rest = text[pos : pos + 2000]
    if math_open:
        # "answer is $x$": the opening delimiter was consumed, so read up to the closing one.
        m = _CLOSE_MATH.match(rest)
        if m and m.group(1).strip():
            return _clean_segment(m.group(1))
    stripped = rest.lstrip()
    if stripped.startswith(("\\[", "$$", "\\(", "$")):
        m = _MATH.match(stripped)
        if m:
            return _clean_segment(_group(m))
    end = _SENTENCE_END.search(rest)
    seg = rest[: end.start()] if end else rest
    if " is " in seg:
        seg = seg[seg.rfind(" is ") + 4 :]
    maths = [_group(mm) for mm in _MATH.finditer(seg)]
    if maths:
        return _clean_segment(", ".join(x.strip() for x in maths))
    plain = _TEXT_ARG.sub(r"\1", seg)
    if len([w for w in _WORD.findall(plain) if len(w) >= 3]) >= 2:
        # A sentence ("Jane started growing Sphere 3 hours ago"): its last number is the answer.
        nums = list(_NUMBER.finditer(plain))
        if nums:
            return _clean_segment(nums[-1].group(0))
    return _clean_segment(seg)


def _group(m: re.Match) -> str:
    return next(g for g in m.groups() if g is not None)


def _clean_segment(seg: str) -> str | None:
    seg = seg.strip().strip("*").strip()
    seg = seg.rstrip(".,;:!")
    return seg or None


def from_hash(text: str) -> str | None:
    m = last_match(_HASH, text[-TAIL_CHARS:])
    return _clean_segment(m.group(1)) if m else None


def whole(text: str) -> str | None:
    """The whole text when it is short and reads as an answer rather than as a sentence."""
    s = text.strip()
    if len(s) > WHOLE_MAX_CHARS or _NOT_WHOLE.search(s) or "\\boxed" in s or "\\fbox" in s:
        return None
    if ("$" in s or "\\(" in s or "\\[" in s) and not (s[:1] == "$" or s[:2] in ("\\(", "\\[")):
        return None  # words around math: a sentence
    if len(_PLAIN_WORD.findall(_TEXT_ARG.sub("", s))) > 1:
        return None
    return _clean_segment(s)


def _last_math_span(text: str) -> tuple[str, int] | None:
    tail = text[-TAIL_CHARS:]
    spans = [(mm.start(), mm.end(), _group(mm)) for mm in _MATH.finditer(tail)]
    if not spans:
        return None
    picked = [spans[-1]]
    for prev in reversed(spans[:-1]):
        gap = tail[prev[1] : picked[-1][0]]
        if len(gap) > 12 or not (_CONNECTOR.search(gap) or not gap.strip()):
            break
        picked.append(prev)
        if len(picked) >= MAX_JOINED_BOXES:
            break
    found = _clean_segment(", ".join(s[2].strip() for s in reversed(picked)))
    return None if found is None else (found, spans[-1][1])


def _last_number_span(text: str) -> tuple[str, int] | None:
    m = last_match(_NUMBER, text[-TAIL_CHARS:])
    return (m.group(0).strip(), m.end()) if m else None


def last_math(text: str) -> str | None:
    """The last math span, joined with the spans right before it when "and"/commas link them."""
    found = _last_math_span(text)
    return found and found[0]


def last_number(text: str) -> str | None:
    found = _last_number_span(text)
    return found and found[0]


_FALLBACK_FNS = {"answer": from_anchor, "hash": from_hash, "whole": whole}


def extract_answer(text: str, *, strict: bool = False, fallbacks=DEFAULT_FALLBACKS) -> str | None:
    """The final answer of ``text`` as written (not normalised), or None. See the module docstring."""
    found = _extract(text, strict, fallbacks)
    if found is None:
        return None
    # \boxed{\text{The answer is } 5}: the phrase is not part of the answer.
    trimmed = _LEADING_PHRASE.sub("", found).strip()
    return trimmed or found


def _extract(text: str, strict: bool, fallbacks) -> str | None:
    fallbacks = () if fallbacks is None else tuple(fallbacks)
    unknown = set(fallbacks) - set(DEFAULT_FALLBACKS)
    if unknown:
        raise ValueError(
            f"unknown fallback {sorted(unknown)[0]!r}; choose from {', '.join(DEFAULT_FALLBACKS)}"
        )
    if not isinstance(text, str) or not text:
        return None
    body = strip_thinking(text)
    if body is None:
        return None
    boxed = _last_boxed_span(body)
    if boxed is not None and boxed[0].strip():
        if not strict:
            later = _final_after(body, boxed[1])
            if later:
                return later
        return boxed[0].strip()
    if strict:
        return None
    done_last = False
    for name in fallbacks:
        if name in _FALLBACK_FNS:
            found = _FALLBACK_FNS[name](body)
            if found:
                return found
        elif not done_last:
            # last_math and last_number: the one that ends later is the final answer.
            done_last = True
            cands = []
            if "last_math" in fallbacks:
                cands.append(_last_math_span(body))
            if "last_number" in fallbacks:
                cands.append(_last_number_span(body))
            cands = [c for c in cands if c]
            if cands:
                return max(cands, key=lambda c: c[1])[0]
    return None


def _final_after(body: str, box_end: int) -> str | None:
    """A "The final answer is X" (with a number or math in X) written after the last box."""
    after = body[box_end:][-TAIL_CHARS:]
    m = last_match(_FINAL, after)
    if m is None:
        return None
    seg = _segment(after, m.end(), math_open=m.group(1) is not None)
    if seg and any(c.isdigit() for c in seg):
        return seg
    return None
