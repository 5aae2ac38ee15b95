"""Every input answers within its limit, from any thread: values too large to compute are refused
before any work starts (no hang, no gigabytes), and keys and votes have deadlines like comparisons.

Each call runs in a harness thread joined after ``BOUND`` times its limit: that is a hang detector, not
a speed requirement (a call that works through ``\\sin(10^{10^{11}})`` runs for hours). The result must
be of the public type (bool, str, Vote, Verdict) and no exception may escape.
"""

import resource
import subprocess
import sys
import threading

import pytest

from ponder.records import Verdict
from ponder.verify.math import (
    DEFAULT_TIMEOUT_S,
    Vote,
    answer_key,
    compare,
    grade,
    is_equivalent,
    majority_vote,
)
from tests.helpers import subprocess_env

LIMIT_S = 0.5  # the timeout_s given to every call
BOUND = 10  # a call still running after BOUND x its limit is a hang
DIGITS_5000 = "7" * 5000

# name -> (answer, a gold to compare it with)
CORPUS = {
    "sine of 10^10^11": (r"\sin(10^{10^{11}})", "0"),
    "cosine of 10^10^11": (r"\cos(10^{10^{11}})", "1"),
    "tangent of 10^100000": (r"\tan(10^{100000})", "1"),
    "secant of 10^10^11": (r"\sec(10^{10^{11}})", "1"),
    "exp of 10^10^9": (r"\exp(10^{10^9})", "1"),
    "e to the 10^10^9": (r"e^{10^{10^9}}", "1"),
    "exp of i 10^10^11": (r"e^{i \cdot 10^{10^{11}}}", "1"),
    "cosh of 10^10^9": (r"\cosh(10^{10^9})", "1"),
    "floor of 10^10^11": (r"\lfloor 10^{10^{11}}\rfloor", "3"),
    "ceiling of 10^10^11": (r"\lceil 10^{10^{11}}\rceil", "3"),
    "floor of x 10^10^11": (r"\lfloor x \cdot 10^{10^{11}} \rfloor", "x"),
    "sine of x 10^10^11": (r"\sin(10^{10^{11}} x)", r"\sin(x)"),
    "gamma of 10^10^11": (r"\Gamma(10^{10^{11}})", "1"),
    "factorial of 10^10^11": (r"(10^{10^{11}})!", "1"),
    "binomial with a huge lower index": (r"\binom{10.5}{10^{10^{11}}}", "1"),
    "binomial of 10^10^11": (r"\binom{10^{10^{11}}}{5}", "1"),
    "power tower": (r"2^{2^{2^{40}}}", "1"),
    "x to a power tower": (r"x^{10^{10^{11}}}", "x"),
    "triple sum of 10^12 terms": (
        r"\sum_{a=1}^{10000}\sum_{b=1}^{10000}\sum_{c=1}^{10000} abc",
        "5",
    ),
    "sum of 10^12 terms": (r"\sum_{k=1}^{10^{12}} k", "1"),
    "product of sums": (r"\prod_{a=1}^{10000}\sum_{b=1}^{10000} b", "2"),
    "sum with a symbolic bound": (r"\sum_{k=1}^{n} k^{1000000}", r"\sum_{k=1}^{n} k^{1000001}"),
    "5000-digit integer against another": (DIGITS_5000, "8" * 5000),
    "5000-digit integer against a decimal": (DIGITS_5000, "1.5"),
    "10^400 against a decimal": ("10^{400}", "1.5"),
    "lone surrogate": ("\ud800", "1"),
    "nul in a fraction": ("\\frac{1}{\x00}", "1"),
}


def _within(limit_s: float, fn):
    """``fn()`` run in a fresh thread; fails when it is still running after BOUND x ``limit_s``."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(BOUND * limit_s)
    assert not t.is_alive(), f"still running after {BOUND} x its limit of {limit_s} s"
    assert "error" not in box, f"raised {box.get('error')!r}"
    return box["value"]


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_call_answers_within_its_limit_from_a_thread(name):
    answer, gold = CORPUS[name]
    for a, b in ((answer, gold), (gold, answer), (answer, answer)):
        assert isinstance(_within(LIMIT_S, lambda a=a, b=b: is_equivalent(a, b, timeout_s=LIMIT_S)), bool)
    assert _within(LIMIT_S, lambda: is_equivalent(answer, answer, timeout_s=LIMIT_S)) is True
    assert isinstance(_within(DEFAULT_TIMEOUT_S, lambda: answer_key(answer)), str)
    # A vote's limit is ten times its per-comparison limit.
    vote = _within(10 * LIMIT_S, lambda: majority_vote([answer, gold, answer], timeout_s=LIMIT_S))
    assert isinstance(vote, Vote) and vote.count == 2 and vote.answer == answer
    verdict = _within(LIMIT_S, lambda: grade(f"so \\boxed{{{answer}}}", gold, timeout_s=LIMIT_S))
    assert isinstance(verdict, Verdict)


def test_a_floor_beyond_the_computed_digits_is_the_value_itself():
    """10^{10^{11}} has 3.3e11 bits: converting it to an exact integer would take 41 GB. With 60 digits
    it is already whole, so its floor is itself and the two compare equal by value."""
    assert _within(LIMIT_S, lambda: compare(r"\lfloor 10^{10^{11}}\rfloor", "10^{10^{11}}")) == (
        True,
        "numeric",
    )
    assert answer_key(r"\lfloor 10^{10^{11}}\rfloor") == answer_key("10^{10^{11}}")


def test_periodic_functions_of_moderate_arguments_are_still_computed():
    """The caps refuse only what cannot be computed: sin(10^{300}) reduces with ~1,000 bits of pi."""
    assert is_equivalent(r"\sin(10^{300})^2 + \cos(10^{300})^2", "1")
    assert is_equivalent(r"e^{\ln 2}", "2")
    assert not is_equivalent(r"\sin(10^{300})", r"\cos(10^{300})")


def test_nested_sums_stop_at_a_total_number_of_terms():
    """Each sum has 10,000 terms (allowed alone) but nested they make 10^12: the key is the written form."""
    key = _within(LIMIT_S, lambda: answer_key(CORPUS["triple sum of 10^12 terms"][0], timeout_s=LIMIT_S))
    assert key.startswith("c:")
    assert answer_key(r"\sum_{a=1}^{100}\sum_{b=1}^{a} 1") == answer_key("5050")  # small nests still add up


SLOW_KEY = r"\sum_{k=1}^{10000} \frac{1}{k^3}"  # 10,000 exact fractions: over a second of work


def test_a_key_has_a_deadline():
    """A key that runs out of time is the written form's key (and equal texts still get equal keys)."""
    key = _within(LIMIT_S, lambda: answer_key(SLOW_KEY + " + 1", timeout_s=0.05))
    assert key.startswith("c:")
    assert answer_key(SLOW_KEY + " + 1", timeout_s=0.05) == key


def test_a_vote_keys_every_answer_within_its_deadline():
    """Sixty distinct answers whose keys each take over a second (a minute in all): the vote's own
    deadline (ten limits) ends the keying, later answers are keyed by their text, and the answer given
    twice still wins."""
    slow = [f"{SLOW_KEY} + {k}" for k in range(60)]
    vote = _within(10 * LIMIT_S, lambda: majority_vote([*slow, slow[-1]], timeout_s=LIMIT_S))
    assert vote.answer == slow[-1] and vote.count == 2


_MEMORY_PROBE = r"""
import sys, threading
from ponder.verify.math import answer_key, is_equivalent
cases = sys.argv[1:]
def run():
    for c in cases:
        is_equivalent(c, "1", timeout_s=0.5)
        answer_key(c, timeout_s=0.5)
t = threading.Thread(target=run, daemon=True)
t.start()
t.join(120)
# VmHWM: the peak resident memory of this program (ru_maxrss would include the forked parent's).
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(int(t.is_alive()), hwm // 1024)
"""


def test_huge_values_allocate_no_gigabytes():
    """Peak memory of a process verifying the huge cases stays that of the interpreter and its imports."""
    cases = [CORPUS[n][0] for n in CORPUS if "10^10" in n or "10^100000" in n]
    limit = 2 << 30  # a runaway allocation fails here instead of swapping the machine

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, *cases],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        preexec_fn=cap,
        timeout=300,
    )
    hung, peak_mb = map(int, out.stdout.split())
    assert not hung
    assert peak_mb < 400, f"peak memory {peak_mb} MB"
