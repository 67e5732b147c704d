"""Report tables: each class and the right formatted numbers, valid Markdown, comparison, PNG written."""

from __future__ import annotations

import re

import numpy as np
import pytest

from xmer.evaluation.metrics import compute_metrics
from xmer.evaluation.report import (
    definitions_footer,
    format_comparison,
    format_confusion,
    format_table,
    plot_confusion,
)


@pytest.fixture()
def single():
    # The hand case of test_metrics: confusion a: [2, 1, 0], b: [0, 1, 1], c: [0, 0, 1]; d absent.
    y_pred = [0, 0, 1, 1, 2, 2]
    scores = np.full((6, 4), 0.1)
    scores[np.arange(6), y_pred] = 0.7
    return compute_metrics([0, 0, 0, 1, 1, 2], scores, ["a", "b", "c", "d"], multi_label=False)


@pytest.fixture()
def multi():
    y = [[1, 0], [1, 1], [0, 0], [0, 1], [1, 0]]
    s = [[0.9, 0.1], [0.2, 0.7], [0.6, 0.3], [0.4, 0.5], [0.8, 0.0]]
    return compute_metrics(y, s, ["joy", "sad"], multi_label=True)


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for the Markdown table lines of ``text``; checks the shape."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) >= 3
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", line)] for line in lines]  # unescaped pipes
    assert len({len(cells) for cells in split}) == 1, "every row must have the same number of cells"
    assert all(cells[0] == cells[-1] == "" for cells in split), "rows start and end with a pipe"
    assert all(set(c) <= {"-", ":"} and "-" in c for c in split[1][1:-1]), "second line is the rule"
    rows = {}
    for cells in [split[0], *split[2:]]:
        rows[cells[1]] = cells[2:-1]
    return rows


def test_format_table_single_label(single):
    text = format_table(single, title="Test set")
    assert text.startswith("**Test set**")
    rows = table_rows(text)
    assert rows["class"] == ["support", "precision", "recall", "F1", "WA"]
    # a: P=1, R=2/3, F1=4/5, WA=5/6;  b: 1/2, 1/2, 1/2, 5/8;  c: 1/2, 1, 2/3, 9/10
    assert rows["a"] == ["3", "100.0", "66.7", "80.0", "83.3"]
    assert rows["b"] == ["2", "50.0", "50.0", "50.0", "62.5"]
    assert rows["c"] == ["1", "50.0", "100.0", "66.7", "90.0"]
    assert rows["d †"] == ["0", "0.0", "0.0", "0.0", "100.0"]
    assert "left out of the averages: d" in text
    # accuracy 4/6, UA 13/18, macro-F1 59/90, weighted-F1 61/90, mean WA 283/360
    assert rows["**accuracy (support-weighted recall)**"] == ["", "", "66.7", "", ""]
    assert rows["**UA (mean recall)**"] == ["", "", "72.2", "", ""]
    assert rows["**macro-F1**"] == ["", "", "", "65.6", ""]
    assert rows["**weighted-F1**"] == ["", "", "", "67.8", ""]
    assert rows["**mean WA**"] == ["", "", "", "", "78.6"]
    assert "n = 6 samples" in text


def test_format_table_multi_label(multi):
    text = format_table(multi)
    rows = table_rows(text)
    assert rows["class"] == ["support", "precision", "recall", "F1", "weighted F1", "WA", "accuracy"]
    # joy: P=R=F1=2/3, wF1=3/5, WA=7/12, acc=3/5;  sad: 1, 1/2, 2/3, 82/105, 3/4, 4/5
    assert rows["joy"] == ["3", "66.7", "66.7", "66.7", "60.0", "58.3", "60.0"]
    assert rows["sad"] == ["2", "100.0", "50.0", "66.7", "78.1", "75.0", "80.0"]
    assert rows["**accuracy (mean over emotions)**"][-1] == "70.0"
    assert rows["**mean WA**"][5] == "66.7"
    assert rows["**weighted-F1 (mean binary weighted F1)**"][4] == "69.0"  # 29/42
    assert "score > 0.5" in text
    assert "†" not in text


def test_pipe_in_class_name_is_escaped():
    m = compute_metrics([0, 1], [[0.9, 0.1], [0.2, 0.8]], ["x|y", "z"], multi_label=False)
    assert "x\\|y" in table_rows(format_table(m))  # the pipe does not split the cell


def test_format_comparison(single, multi):
    text = format_comparison({"trimodal": single, "text only": {"accuracy": {"mean": 0.5, "std": 0.0123}}})
    rows = table_rows(text)
    assert rows[""] == ["accuracy", "UA", "macro-F1", "mean WA"]
    assert rows["trimodal"] == ["66.7", "72.2", "65.6", "78.6"]
    assert rows["text only"] == ["50.0 ± 1.2", "–", "–", "–"]
    rows = table_rows(format_comparison({"mosei": multi}, keys=("n", "weighted_f1", "exact_match")))
    assert rows[""] == ["n", "weighted-F1", "exact match"]
    assert rows["mosei"] == ["5", "69.0", "40.0"]
    with pytest.raises(ValueError):
        format_comparison({})


def test_format_confusion(single, multi):
    rows = table_rows(format_confusion(single))
    assert rows["true ↓ / predicted →"] == ["a", "b", "c", "d"]
    assert rows["a"] == ["2", "1", "0", "0"] and rows["c"] == ["0", "0", "1", "0"]
    rows = table_rows(format_confusion(multi))
    assert rows["emotion"] == ["TN", "FP", "FN", "TP"]
    assert rows["joy"] == ["1", "1", "1", "2"] and rows["sad"] == ["3", "0", "1", "1"]


def test_definitions_footer(single, multi):
    for m in (single, multi):
        footer = definitions_footer(m)
        for key in ("accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "wa"):
            assert m["definitions"][key] in footer
        assert all(line.startswith("- **") for line in footer.splitlines())
    assert "sklearn average='weighted'" in definitions_footer(single)
    assert definitions_footer(single, keys=["wa"]).startswith("- **mean WA**: Tong et al. 2017")


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_plot_confusion_writes_png(kind, single, multi, tmp_path):
    path = tmp_path / "plots" / f"{kind}.png"
    assert plot_confusion(single if kind == "single" else multi, path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
