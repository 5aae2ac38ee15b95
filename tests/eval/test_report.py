from ponder.eval.report import bar_plot, compare_rows, curve_plot, markdown_table
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
