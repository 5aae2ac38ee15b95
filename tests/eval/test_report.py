from ponder.eval.report import bar_plot, compare_rows, curve_plot, label_below, markdown_table, tradeoff_plot
from tests.helpers import approx


def test_markdown_table_formats_and_marks_missing():
    rows = [{"name": "sft", "accuracy": 0.5, "mean_tokens": 120.25}, {"name": "thinkpo", "accuracy": 0.625}]
    assert markdown_table(rows, ["name", "accuracy", "mean_tokens"]) == (
        "| name | accuracy | mean_tokens |\n|---|---|---|\n| sft | 0.500 | 120.2 |\n| thinkpo | 0.625 | – |"
    )


def test_compare_rows_change_percent():
    rows = compare_rows(
        {"accuracy": 0.5, "mean_tokens": 100.0},
        {"accuracy": 0.6, "mean_tokens": 90.0},
        ["accuracy", "mean_tokens"],
    )
    # (0.6 - 0.5) / 0.5 = +20 %: float64 subtraction of values near 1, scaled by 100 / 0.5
    assert rows[0]["change %"] == approx(20.0, factor=4, scale=200.0)
    assert rows[1]["change %"] == approx(-10.0, factor=4, scale=200.0)


def test_plots_are_png(tmp_path):
    p = bar_plot(
        tmp_path / "a.png", [{"name": "a", "acc": 0.3}, {"name": "b", "acc": None}], ["acc"], title="t"
    )
    q = curve_plot(tmp_path / "c.png", {"run": [(0, 0.1), (1, 0.4)], "empty": []}, "step", "reward")
    for f in (p, q):
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tradeoff_labels_sit_on_the_far_side_of_a_rows_starting_point(tmp_path):
    """The higher of a row and its sft- start is labelled above, the lower below, whichever is trained."""
    points = {
        "thinker": (102.0, 0.749),
        "sft-thinker": (102.3, 0.796),
        "baseline": (53, 0.6),
        "sft-baseline": (53, 0.6),
    }
    points |= {"fast": (40, 0.63), "sft-fast": (40, 0.62), "alone": (10, 0.1), "sft-other": (20, 0.2)}
    below = {name: label_below(points, name) for name in points}
    assert below == {
        "thinker": True,
        "sft-thinker": False,
        "baseline": False,
        "sft-baseline": True,
        "fast": False,
        "sft-fast": True,
        "alone": False,
        "sft-other": True,
    }
    rows = [{"name": n, "mean_tokens": x, "accuracy": y} for n, (x, y) in points.items()]
    assert tradeoff_plot(tmp_path / "t.png", rows).stat().st_size > 0
