"""Numbers and the words after them in the answer parser: mixed numbers (``2\\frac{1}{2}``, ``2 1/2``) and
units skipped after a value. Split from :mod:`ponder.verify.answers.latex_primary`, which mixes it in."""

from __future__ import annotations

from fractions import Fraction

from ponder.verify.answers.vocab import KNOWN_WORDS, UNIT_WORDS


class NumberWords:
    """Mixed numbers and units; relies on the token helpers of ``Parser``."""

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
        if (
            not self.latex
            and t0[0] == "num"
            and t0[2]
            and t1[:2] == ("op", "/")
            and t2[0] == "num"
            and not t1[2]
        ):
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
        if low in KNOWN_WORDS or low in ("e", "i"):
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
