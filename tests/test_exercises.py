"""Exercise checks: right answers pass, wrong and unfinished ones get a hint, nothing raises."""

import nbformat
import pytest
import torch

from memelib import exercises as ex
from memelib.synthetic import load_meta


def _masked_mean(states, mask):
    m = mask.unsqueeze(-1).float()
    return (states * m).sum(1) / m.sum(1)


@pytest.mark.parametrize(
    "check, right, wrongs",
    [
        (ex.check_masked_mean, _masked_mean, [lambda s, m: s.mean(1), lambda s, m: s.sum(1), lambda s, m: 1 / 0, ...]),
        (ex.check_cosine_similarity,
         lambda a, b: torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T,
         [lambda a, b: a @ b.T, lambda a, b: a, lambda a, b: ..., "not a function"]),
        (ex.check_precision_recall, lambda cm: (cm[1][1] / (cm[1][1] + cm[0][1]), cm[1][1] / (cm[1][1] + cm[1][0])),
         [lambda cm: (cm[1][1] / (cm[1][1] + cm[1][0]), cm[1][1] / (cm[1][1] + cm[0][1])), lambda cm: 0.5, ...]),
    ],
)
def test_checks(check, right, wrongs, capsys):
    assert check(right) is True
    assert capsys.readouterr().out.startswith("Correct!")
    for wrong in wrongs:
        assert check(wrong) is False
        out = capsys.readouterr().out
        assert out.startswith("Not yet:") and "Hint:" in out


@pytest.mark.parametrize("check, right", [
    (ex.check_masked_mean, _masked_mean),
    (ex.check_cosine_similarity,
     lambda a, b: torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T),
])
def test_checks_accept_a_right_answer_in_other_last_digits(check, right, capsys):
    """Another CPU's kernels (or another way to write it) change a right answer's last digits: still right."""
    assert check(lambda *args: right(*args) * (1 + 2**-20))  # about 8 units in the last place of float32
    assert capsys.readouterr().out.startswith("Correct!")


def test_swapped_precision_recall_is_named(capsys):
    ex.check_precision_recall(lambda cm: (30 / 40 * 0 + 30 / 50, 30 / 40))
    assert "swapped" in capsys.readouterr().out


def test_check_shapes(capsys):
    expected = {"input_ids": (8, 20), "logits": (8, 2)}
    assert ex.check_shapes({"input_ids": (8, 20), "logits": [8, 2]}, expected)
    assert not ex.check_shapes({"input_ids": (8, 20), "logits": (8, 1)}, expected)
    assert "'logits'" in capsys.readouterr().out.splitlines()[-2]
    assert not ex.check_shapes(..., expected)
    assert not ex.check_shapes({"input_ids": (8, 20), "logits": ...}, expected)


def test_check_twins(synth_dir, capsys):
    meta = load_meta(synth_dir)
    with_twins = {m["triplet"] for m in meta.values() if m["triplet"] is not None and m["kind"] != "hateful"}
    hateful = next(m for m in meta.values() if m["id"] in with_twins)  # not a training bias orphan
    twins = {m["kind"]: m["id"] for m in meta.values() if m["triplet"] == hateful["id"] and m["kind"] != "hateful"}
    assert ex.check_twins(synth_dir, hateful["id"], twins["benign_image_swap"], twins["benign_text_swap"])
    assert not ex.check_twins(synth_dir, hateful["id"], twins["benign_text_swap"], twins["benign_image_swap"])
    assert not ex.check_twins(synth_dir, hateful["id"], ..., ...)
    # a hateful meme without twins (hateful by its caption alone, or a bias orphan) gets a verdict, not a KeyError
    lone = next(m for m in meta.values() if m["true_label"] == 1 and m["id"] not in with_twins)
    capsys.readouterr()
    assert not ex.check_twins(synth_dir, lone["id"], None, None)
    assert "has no twins" in capsys.readouterr().out


def test_strip_solutions_keeps_structure():
    source = (
        "def f(x):\n"
        "    # BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    # END SOLUTION\n"
        "\n"
        "# BEGIN SOLUTION\n"
        "answer = {'concat'}\n"
        "# END SOLUTION\n"
        "check(answer)\n"
    )
    out = ex.strip_solutions(source)
    assert out == "def f(x):\n    ...  # your code here\n\n...  # your code here\ncheck(answer)\n"
    compile(out, "student", "exec")
    assert ex.strip_solutions("no solutions here\n") == "no solutions here\n"


def test_make_student_notebooks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("# BEGIN SOLUTION\nanswer = 42\n# END SOLUTION\nprint(answer)",
                                  outputs=[nbformat.v4.new_output("stream", text="42\n")], execution_count=3),
    ]
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "01_x.ipynb")
    [path] = ex.make_student_notebooks(tmp_path / "src", tmp_path / "student")
    student = nbformat.read(path, as_version=4)
    code = student.cells[1]
    assert "42" not in code.source and "...  # your code here" in code.source
    assert code.outputs == [] and code.execution_count is None
    assert student.cells[0].source == "# Title"
