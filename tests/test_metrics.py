import numpy as np
import pytest

from memelib.metrics import compute_metrics, evaluation_report, format_report, tune_threshold


def test_metrics_on_a_known_example():
    labels = np.array([0, 0, 0, 1, 1])
    probs = np.array([0.1, 0.4, 0.6, 0.45, 0.9])
    m = compute_metrics(labels, probs, 0.5)
    assert m["confusion_matrix"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx([2 / 3, 1 / 2])
    assert m["precision"] == pytest.approx([2 / 3, 1 / 2])
    assert m["auroc"] == pytest.approx(5 / 6)  # pairs (pos > neg): 0.45 beats 0.1, 0.4; 0.9 beats all three
    assert m["support"] == [3, 2]


def test_tuned_threshold_is_at_least_as_good_as_half():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(0.3 * labels + rng.normal(0.3, 0.15, 200), 0, 1)  # hateful memes score low, as in the baseline
    t = tune_threshold(labels, probs)
    report = evaluation_report(labels, probs, t)
    assert report["at_tuned"]["macro_f1"] >= report["at_0.5"]["macro_f1"]
    assert report["at_tuned"]["recall"][1] > report["at_0.5"]["recall"][1]
    text = format_report(report, "dev")
    assert "AUROC" in text and "recall hateful" in text and f"{t:.3f}" in text


def test_single_class_auroc_is_nan_not_an_exception():
    assert np.isnan(compute_metrics(np.array([1, 1]), np.array([0.2, 0.9]))["auroc"])


def test_auroc_by_kind_and_confident_mistakes():
    from memelib.metrics import auroc_by_kind, most_confident_mistakes

    kinds = ["hateful", "hateful", "benign_text_swap", "benign_text_swap", "benign_plain"]
    probs = np.array([0.9, 0.6, 0.7, 0.1, 0.2])
    by = auroc_by_kind(np.array([1, 1, 0, 0, 0]), probs, kinds)
    assert by == {"benign_plain": 1.0, "benign_text_swap": 0.75}
    assert most_confident_mistakes(np.array([1, 1, 0, 0, 0]), probs, 0.5, k=3) == [2]
    assert most_confident_mistakes(np.array([0, 0, 1, 1, 0]), probs, 0.5) == [0, 3, 1]


# Eight memes by hand, at threshold 0.5 (pred = prob >= 0.5):
#   meme  label  prob  pred  group
#     0     0    0.9    1    "a"
#     1     0    0.2    0    ["a", "b"]     in both a and b
#     2     1    0.8    1    "a"
#     3     0    0.7    1    None           no group
#     4     1    0.3    0    ["b"]
#     5     0    0.6    1    []             no group
#     6     1    0.4    0    "c"            c: one hateful meme only
#     7     0    0.1    0    ["b", "b"]     listed twice, counts once
LABELS = np.array([0, 0, 1, 0, 1, 0, 1, 0])
PROBS = np.array([0.9, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4, 0.1])
GROUPS = ["a", ["a", "b"], "a", None, ["b"], [], "c", ["b", "b"]]


def test_group_report_on_a_hand_computed_example():
    from memelib.metrics import NO_GROUP, GroupRow, group_report

    report = group_report(LABELS, PROBS, GROUPS, 0.5)
    nan = float("nan")
    expected = [
        # a = {0, 1, 2}: benign 0 flagged, 1 not -> FPR 1/2; hateful 2 caught -> FNR 0; AUROC: 0.8 beats 0.2
        # only -> 1/2. Others {3..7}: benign 3, 5 flagged, 7 not -> 2/3; gap 1/2 - 2/3.
        GroupRow("a", 3, 1, 1 / 2, 0.0, 1 / 2, 2 / 3, 1 / 2 - 2 / 3),
        # b = {1, 4, 7}: benign 1, 7 not flagged -> 0; hateful 4 missed -> 1; 0.3 beats 0.2 and 0.1 -> AUROC 1.
        # Others {0, 2, 3, 5, 6}: benign 0, 3, 5 all flagged -> 1; gap -1.
        GroupRow("b", 3, 1, 0.0, 1.0, 1.0, 1.0, -1.0),
        # c = {6}: no benign meme -> FPR NaN, gap NaN; hateful 6 missed -> FNR 1; one class -> AUROC None.
        # Others: benign 0, 1, 3, 5, 7, of which 0, 3, 5 flagged -> 3/5.
        GroupRow("c", 1, 1, nan, 1.0, None, 3 / 5, nan),
        # no group = {3, 5}: both benign, both flagged -> 1; FNR NaN. Others: benign 0, 1, 7, 0 flagged -> 1/3.
        GroupRow(NO_GROUP, 2, 0, 1.0, nan, None, 1 / 3, 1 - 1 / 3),
    ]
    assert [r.group for r in report.rows] == ["a", "b", "c", NO_GROUP]
    for row, want in zip(report.rows, expected):
        assert (row.group, row.n, row.n_hateful, row.auroc) == (want.group, want.n, want.n_hateful, want.auroc)
        got = [row.fpr, row.fnr, row.fpr_others, row.fpr_gap]
        assert np.allclose(got, [want.fpr, want.fnr, want.fpr_others, want.fpr_gap], equal_nan=True), row.group
    assert report.largest_gap_group == NO_GROUP and report.largest_gap == pytest.approx(2 / 3)
    assert report.threshold == 0.5


def test_group_rates_agree_with_compute_metrics_on_each_group():
    from memelib.metrics import group_report

    report = group_report(LABELS, PROBS, ["x", "x", "x", "y", "y", "y", "x", "y"], 0.5)
    for row in report.rows:
        sel = np.array([g == row.group for g in ["x", "x", "x", "y", "y", "y", "x", "y"]])
        m = compute_metrics(LABELS[sel], PROBS[sel], 0.5)
        assert row.fpr == pytest.approx(1 - m["recall"][0]) and row.fnr == pytest.approx(1 - m["recall"][1])
        assert row.auroc == pytest.approx(m["auroc"])


def test_fpr_gap_compares_with_every_meme_outside_the_group():
    from memelib.metrics import group_report

    # x's benign memes are all flagged, y's half: x's gap is 1 - 1/2, y's is 1/2 - 1.
    report = group_report([0, 0, 0, 0], [0.9, 0.8, 0.1, 0.9], ["x", "x", "y", "y"], 0.5)
    assert [(r.group, r.fpr, r.fpr_others, r.fpr_gap) for r in report.rows] == [("x", 1.0, 0.5, 0.5), ("y", 0.5, 1.0, -0.5)]
    assert (report.largest_gap_group, report.largest_gap) == ("x", 0.5)
    # z is in every meme with x: "others" of z are the y memes only, not the rest of the data set
    report = group_report([0, 0, 0, 0], [0.9, 0.8, 0.1, 0.9], [["x", "z"], ["x", "z"], "y", "y"], 0.5)
    assert [r.fpr_gap for r in report.rows] == [0.5, -0.5, 0.5] and report.largest_gap_group == "x"  # ties: first
    # one group holding every meme has no "others": no gap at all
    alone = group_report([0, 1], [0.9, 0.8], ["x", "x"], 0.5)
    assert np.isnan(alone.rows[0].fpr_gap) and alone.largest_gap_group is None and np.isnan(alone.largest_gap)


def test_format_group_report_marks_numbers_and_says_n_a():
    from memelib.metrics import format_group_report, group_report

    text = format_group_report(group_report(LABELS, PROBS, GROUPS, 0.5), title="by gold_pc", mark="~")
    lines = text.splitlines()
    assert lines[0] == "by gold_pc" and lines[1].split() == ["group", "memes", "hateful", "FPR", "FNR", "AUROC", "FPR", "gap"]
    assert lines[2].split() == ["a", "3", "1", "~0.5000", "~0.0000", "~0.5000", "~-0.1667"]
    assert lines[4].split() == ["c", "1", "1", "n/a", "~1.0000", "n/a", "n/a"]
    assert lines[5].split() == ["(none)", "2", "0", "~1.0000", "n/a", "n/a", "~+0.6667"]
    assert "threshold ~0.500" in text
    assert lines[-1] == "largest FPR gap: (none), ~+0.6667 (FPR ~1.0000 in it, ~0.3333 for all other memes)"
    plain = format_group_report(group_report([0, 1], [0.9, 0.8], ["x", "x"], 0.5))
    assert "~" not in plain and plain.splitlines()[-1].startswith("largest FPR gap: n/a")
    without = format_group_report(group_report(LABELS, PROBS, GROUPS, 0.5), title="by gold_pc", mark="~", largest=False)
    assert without.splitlines() == lines[:-1]  # the same table, without the largest-gap line


def test_group_report_refuses_mismatched_or_nested_groups():
    from memelib.metrics import group_report

    with pytest.raises(ValueError, match="differ in length"):
        group_report([0, 1], [0.1, 0.9], ["a"], 0.5)
    with pytest.raises(ValueError, match="meme 1"):
        group_report([0, 1], [0.1, 0.9], ["a", {"pc": "race"}], 0.5)


def test_group_report_to_dict_is_json_ready():
    import json

    from memelib.metrics import group_report

    data = json.loads(json.dumps(group_report(LABELS, PROBS, GROUPS, 0.5).to_dict()))
    assert data["largest_gap_group"] == "(none)" and [r["group"] for r in data["rows"]] == ["a", "b", "c", "(none)"]
    assert data["rows"][2]["auroc"] is None and data["rows"][0]["n"] == 3
