"""Prefix sampling for pDPO on hand-made responses: line counts, the upper ratio, the sample ratio, the cap,
deduplication and the all-same filter."""

import random

from ponder.pairs.prefixes import all_same_answer, problem_prefixes, response_prefixes


def _response(n_lines: int, blank_every: int = 0, tag: str = "") -> str:
    lines = []
    for i in range(1, n_lines + 1):
        lines.append(f"{tag}Step {i}: something {i}.")
        if blank_every and i % blank_every == 0:
            lines.append("")
    return "\n".join(lines)


def test_fewer_than_five_steps_give_no_prefix():
    """4 non-empty lines (blank lines do not count as steps) is under the minimum of 5."""
    r = "a\n\nb\n   \nc\nd"
    assert response_prefixes(r, upper_step_ratio=1.0, sample_ratio=1.0, rng=random.Random(0)) == []


def test_counts_follow_the_ratios():
    """10 steps (with blank lines between): upper = int(10 * 0.7) = 7 candidate cut points,
    of which int(7 * 0.3) = 2 are drawn. 20 steps: upper 14, int(14 * 0.3) = 4 drawn."""
    for n, expected in ((10, 2), (20, 4)):
        r = _response(n, blank_every=3)
        for seed in range(20):
            got = response_prefixes(r, rng=random.Random(seed))
            assert len(got) == expected
            assert all(1 <= p.steps <= int(n * 0.7) for p in got)


def test_defaults_need_six_steps():
    """5 steps: upper int(3.5) = 3, int(3 * 0.3) = 0 -> nothing; 6 steps: upper 4, int(1.2) = 1 prefix."""
    assert response_prefixes(_response(5), rng=random.Random(0)) == []
    assert len(response_prefixes(_response(6), rng=random.Random(0))) == 1


def test_prefix_text_is_the_response_up_to_the_cut_line():
    """Each prefix is the original text through the newline ending its step's line: blank lines inside
    kept, and exactly ``steps`` non-empty lines."""
    r = _response(12, blank_every=2)
    lines = r.split("\n")
    seen_steps = set()
    for seed in range(30):
        for p in response_prefixes(r, upper_step_ratio=1.0, sample_ratio=0.5, rng=random.Random(seed)):
            assert r.startswith(p.text) and p.text.endswith(".\n")  # the cut is just after a line end
            assert sum(1 for line in p.text.split("\n") if line.strip()) == p.steps
            assert p.text.split("\n")[-2] == f"Step {p.steps}: something {p.steps}."
            assert p.text == "\n".join(lines[: len(p.text.split("\n")) - 1]) + "\n"
            seen_steps.add(p.steps)
    assert seen_steps == set(range(1, 13))  # with ratio 1.0 every step is a possible cut


def test_upper_ratio_keeps_cuts_away_from_the_end():
    """upper_step_ratio 0.5 on 10 steps: cut points only among steps 1..5, over many draws."""
    r = _response(10)
    seen = set()
    for seed in range(50):
        seen |= {
            p.steps
            for p in response_prefixes(r, upper_step_ratio=0.5, sample_ratio=0.6, rng=random.Random(seed))
        }
    assert seen == {1, 2, 3, 4, 5}


def test_problem_pool_is_capped():
    """8 responses of 20 steps give 8 * 4 = 32 distinct prefixes; the cap keeps 10 of them."""
    responses = [_response(20, tag=f"r{i} ") for i in range(8)]
    preds = ["1", "2"] * 4
    full = problem_prefixes(responses, preds, max_prefixes_per_problem=1000, rng=random.Random(0))
    assert len(full) == 32
    capped = problem_prefixes(responses, preds, max_prefixes_per_problem=10, rng=random.Random(0))
    assert len(capped) == 10
    assert len({p.text for p in capped}) == 10
    assert {p.response_index for p in capped} <= set(range(8))


def test_identical_prefixes_are_kept_once():
    """Four copies of one 20-step response give at most 14 distinct cut points, not 4 * 4 = 16 prefixes."""
    responses = [_response(20)] * 4
    got = problem_prefixes(
        responses, ["1", "2", "1", "2"], max_prefixes_per_problem=100, rng=random.Random(3)
    )
    assert len({p.text for p in got}) == len(got) <= 14


def test_all_same_filter():
    """All answers equal (also written differently: 0.5 and 1/2) -> no prefixes. One response without an
    answer makes the answers differ, so the problem is kept. With the filter off, prefixes are cut anyway."""
    responses = [_response(10)] * 3
    assert all_same_answer(["0.5", "1/2", "\\frac{1}{2}"])
    assert problem_prefixes(responses, ["0.5", "1/2", "\\frac{1}{2}"], rng=random.Random(0)) == []
    assert problem_prefixes(responses, ["0.5", "0.5", None], rng=random.Random(0)) != []
    assert problem_prefixes(responses, ["5", "5", "5"], filter_all_same=False, rng=random.Random(0)) != []
    assert all_same_answer([None, None])
