"""The end-of-notebook quizzes: every notebook has its own, the widget marks answers as it should (driven from
code, without a kernel), and every right answer that memelib can compute is recomputed here."""

import dataclasses
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import precision_score, recall_score, roc_curve

from memelib.annotations import Record, read_split
from memelib.config import FusionConfig, preset
from memelib.exercises.quiz import QUIZZES, Question, Quiz, quiz
from memelib.synthetic import SynthConfig, label_rule, plan

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = sorted(QUIZZES)  # the notebooks with a quiz: every notebook from 00 to 07 (and 08 once its quiz is added)
QUIZ_CALL = re.compile(r"""^quiz\(["'](\d\d)["']\)\s*$""", re.M)


def notebook(number: str) -> nbformat.NotebookNode:
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    return nbformat.read(path, as_version=4)


def right(number: str, prompt_part: str) -> str:
    """The right option of the one question of notebook `number` whose prompt contains `prompt_part`."""
    (question,) = [q for q in QUIZZES[number] if prompt_part in q.prompt]
    return question.options[question.answer]


def why(number: str, prompt_part: str) -> str:
    (question,) = [q for q in QUIZZES[number] if prompt_part in q.prompt]
    return question.why


# ----------------------------------------------------------------------------- the quizzes and the notebooks

def test_the_notebooks_00_to_07_have_a_quiz():
    assert {f"{n:02d}" for n in range(8)} <= set(QUIZZES)


@pytest.mark.parametrize("number", NUMBERS)
def test_every_notebook_ends_with_its_own_quiz(number):
    nb = notebook(number)
    calls = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and QUIZ_CALL.search(c.source)]
    assert len(calls) == 1, "one quiz cell"
    i, cell = calls[0]
    assert QUIZ_CALL.search(cell.source)[1] == number, "the quiz of this notebook, not another's"
    assert "from memelib.exercises.quiz import quiz" in cell.source
    assert nb.cells[i - 1].cell_type == "markdown" and nb.cells[i - 1].source.startswith("## Quiz")
    after = [c for c in nb.cells[i + 1:] if c.cell_type == "markdown"]
    assert after and re.search(r"^## Summary", after[-1].source, re.M), "the quiz comes just before the summary"
    assert all(c.cell_type == "markdown" for c in nb.cells[i + 1:])
    (output,) = [o for o in cell.outputs if o.get("data", {}).get("application/vnd.jupyter.widget-view+json")]
    # what nbval compares: the quiz's title and size, the same on every run (the view's model id is not compared)
    assert output["data"]["text/plain"] == f"Quiz: notebook {number}, {len(QUIZZES[number])} questions"


@pytest.mark.parametrize("number", NUMBERS)
def test_each_bank_entry_holds_three_to_five_well_formed_questions(number):
    questions = QUIZZES[number]
    assert 3 <= len(questions) <= 5
    for q in questions:
        assert isinstance(q, Question) and q.prompt.strip() and q.why.strip()
        assert 3 <= len(q.options) <= 4 and len(set(q.options)) == len(q.options)
        assert 0 <= q.answer < len(q.options)
        assert all(0 < len(o) <= 100 for o in q.options), "an option fits on one line"
        assert "`" not in "".join(q.options), "options are plain text (backticks are shown as code only in prose)"
    # the right answer's place varies, so that its position gives nothing away
    assert len({q.answer for q in questions}) > 1


def test_a_malformed_question_is_refused():
    with pytest.raises(ValueError, match="3 or 4 distinct options"):
        Question("?", ("a", "a", "b"), 0, "because")
    with pytest.raises(ValueError, match="valid answer index"):
        Question("?", ("a", "b", "c"), 3, "because")
    with pytest.raises(ValueError, match="valid answer index"):
        Question("?", ("a", "b", "c"), 0, " ")


# ----------------------------------------------------------------------------- the widget

@pytest.mark.parametrize("number", NUMBERS)
def test_all_right_answers_score_full_marks(number):
    q = Quiz(QUIZZES[number], f"Quiz: notebook {number}")
    for i, question in enumerate(q.questions):
        q.choose(i, question.answer)
    assert q.check() == len(q.questions)
    for question, feedback in zip(q.questions, q.feedback):
        assert feedback.value.startswith("Right.") and "memelib-quiz-right" in feedback._dom_classes
    assert f"{len(q.questions)} of {len(q.questions)} right" in q.score.value


def test_a_wrong_answer_is_marked_and_counted():
    questions = QUIZZES["04"]
    q = Quiz(questions, "t")
    for i, question in enumerate(questions):
        q.choose(i, question.answer)
    q.choose(1, (questions[1].answer + 1) % len(questions[1].options))  # one wrong
    assert q.check() == len(questions) - 1
    assert q.feedback[1].value.startswith("Not quite:") and "memelib-quiz-wrong" in q.feedback[1]._dom_classes
    assert f"{len(questions) - 1} of {len(questions)} right" in q.score.value


def test_an_unanswered_question_asks_for_an_answer_and_reveals_nothing():
    questions = QUIZZES["06"]
    q = Quiz(questions, "t")
    assert all(f.value == "" for f in q.feedback) and q.score.value == "", "nothing shown before a check"
    assert all(c.index is None for c in q.choices), "no option is preselected"
    q.choose(0, questions[0].answer)
    assert q.check() == 1
    for question, feedback in zip(questions[1:], q.feedback[1:]):
        assert feedback.value.startswith("Choose an answer")
        assert question.why[:30] not in feedback.value and "Right" not in feedback.value
    assert "1 of 5 right" in q.score.value and f"({len(questions) - 1} not answered yet)" in q.score.value


def test_the_button_checks_and_a_new_choice_clears_the_old_verdict():
    questions = QUIZZES["02"]
    q = Quiz(questions, "Quiz: notebook 02")
    assert "memelib-quiz" in q.widget._dom_classes and "memelib-quiz-check" in q.button._dom_classes
    assert all("memelib-quiz-options" in c._dom_classes for c in q.choices)
    q.choose(0, questions[0].answer)
    q.button.click()  # the callback runs without a kernel
    assert q.feedback[0].value.startswith("Right.") and "1 of 4 right" in q.score.value
    q.choose(0, (questions[0].answer + 1) % len(questions[0].options))  # the learner changes their mind
    assert q.feedback[0].value == "" and q.score.value == "" and not {"memelib-quiz-right"} & set(q.feedback[0]._dom_classes)


def test_quiz_returns_the_widget_of_a_notebook_and_refuses_an_unknown_one():
    widget = quiz("03")
    assert "memelib-quiz" in widget._dom_classes and widget._model_name == "VBoxModel"  # a plain VBox in the browser
    assert widget._repr_mimebundle_()["text/plain"] == "Quiz: notebook 03, 5 questions"
    texts = [c.value for c in widget.children if hasattr(c, "value") and isinstance(c.value, str)]
    assert "<b>Quiz: notebook 03</b>" in texts
    with pytest.raises(ValueError, match="no quiz for notebook '99'"):
        quiz("99")


def test_prose_in_backticks_is_shown_as_code_and_escaped():
    q = Quiz([Question("Is `a < b`?", ("yes", "no", "maybe"), 0, "Because `a` is <small>.")], "t")
    q.choose(0, 0)
    q.check()
    assert "<code>a &lt; b</code>" in q.widget.children[2].value
    assert q.feedback[0].value == "Right. Because <code>a</code> is &lt;small&gt;."


# ----------------------------------------------------------------------------- the answers, recomputed: 00

@pytest.fixture(scope="module")
def synthmemes():
    """The course's SynthMemes as planned (the meta records of every split), without drawing a picture."""
    return plan(SynthConfig())


def test_00_a_never_caption_over_a_pleasant_picture_is_hateful():
    assert right("00", "zorblats will never have this") == 'Hateful: "never" over a pleasant picture'
    assert label_rule("zorblats", "never", "pleasant") == 1 and label_rule("zorblats", "never", "degrading") == 0


def test_00_an_image_swap_keeps_the_caption_with_the_other_label(synthmemes):
    assert right("00", "image-swap twin").startswith("It is the same caption")
    dev = synthmemes["dev"]
    hateful = {m["id"]: m for m in dev if m["kind"] == "hateful"}
    swaps = [m for m in dev if m["kind"] == "benign_image_swap"]
    assert swaps and all(m["text"] == hateful[m["triplet"]]["text"] and m["label"] == 0 for m in swaps)
    assert all(hateful[m["triplet"]]["label"] == 1 for m in swaps)


def test_00_train_labels_are_noisy_and_dev_and_test_labels_true(synthmemes):
    assert right("00", "one training label in seven") == "Dev and test keep the true labels, so they measure the task"
    flipped = {s: sum(m["label"] != m["true_label"] for m in synthmemes[s]) for s in ("train", "dev", "test_seen")}
    assert (flipped["train"], len(synthmemes["train"])) == (135, 900) and "135 of 900" in why("00", "in seven")
    assert flipped["dev"] == flipped["test_seen"] == 0
    assert abs(135 / 900 - 1 / 7) < 0.01 and SynthConfig().label_noise == 0.15


def test_00_and_07_only_the_bias_group_has_hateful_training_memes_without_twins(synthmemes):
    assert right("00", "quibbits triplets").startswith('"This name means hateful"')
    assert right("07", "flag the quibbits").startswith("In training, many of their hateful memes had no benign twin")
    assert SynthConfig().bias_group == "quibbits"
    train = synthmemes["train"]
    with_twins = {m["triplet"] for m in train if m["kind"].startswith("benign") and m["triplet"] is not None}
    orphans = [m["group"] for m in train if m["kind"] == "hateful" and m["id"] not in with_twins]
    assert orphans and set(orphans) == {"quibbits"}
    for split in ("dev", "test_seen"):  # dev and test are made by the same rules for every group: whole triplets
        hateful = {m["id"] for m in synthmemes[split] if m["kind"] == "hateful"}
        twins = {m["triplet"] for m in synthmemes[split] if m["kind"].startswith("benign") and m["triplet"]}
        assert hateful == twins


# ----------------------------------------------------------------------------- 01 and 03: the offline text tower

@pytest.fixture(scope="module")
def minilm():
    """The offline preset's tokenizer and MiniLM text tower (mean pooling), as notebooks 01 and 03 build them."""
    from memelib.encoders import build_text_encoder, load_tokenizer

    cfg = dataclasses.replace(preset("offline").model.text, pooling="mean")
    return load_tokenizer(cfg), build_text_encoder(cfg).eval()


def test_01_the_mask_keeps_a_padded_captions_vectors_and_a_plain_mean_moves(minilm):
    tokenizer, encoder = minilm
    assert right("01", "encoded in a padded batch") == "The same, up to float rounding"
    assert right("01", "plain mean over all L").startswith("It averages in the [PAD] vectors")
    captions = ["mondays at 3 am", "zorblats after a long day, at home"]
    alone = tokenizer(captions[:1], return_tensors="pt")
    batch = tokenizer(captions, padding="longest", return_tensors="pt")
    n = alone["input_ids"].shape[1]
    with torch.no_grad():
        states_alone = encoder.backbone(**alone).last_hidden_state  # (1, n, D)
        states_batch = encoder.backbone(**batch).last_hidden_state  # (2, L, D)
        all_ones = encoder.backbone(input_ids=batch["input_ids"],
                                    attention_mask=torch.ones_like(batch["attention_mask"])).last_hidden_state
        masked_alone = encoder(alone["input_ids"], alone["attention_mask"])[0]  # (D,) memelib's masked mean
        masked_batch = encoder(batch["input_ids"], batch["attention_mask"])[0]  # (D,) the same caption, padded
    assert batch["input_ids"].shape[1] > n  # the short caption is padded
    assert (states_batch[0, :n] - states_alone[0]).abs().max() < 1e-4  # float rounding only
    assert (all_ones[0, :n] - states_alone[0]).abs().max() > 0.1  # without the mask its vectors move
    assert states_batch[0, n:].abs().amax(dim=-1).min() > 0.1  # the [PAD] vectors are not zero
    assert (states_batch[0].mean(0) - states_alone[0].mean(0)).abs().max() > 0.1  # the plain mean moves
    assert (masked_batch - masked_alone).abs().max() < 1e-4  # the masked mean does not


def test_01_wordpiece_spells_an_invented_name_from_pieces(minilm):
    tokenizer, _ = minilm
    assert right("01", "zorblats") == "Spells it from known pieces: z ##or ##bla ##ts"
    assert tokenizer.tokenize("zorblats") == ["z", "##or", "##bla", "##ts"]
    assert tokenizer.tokenize("memes 🙂")[-1] == tokenizer.unk_token  # what [UNK] is for


def test_01_truncation_keeps_cls_and_sep(minilm):
    tokenizer, _ = minilm
    assert right("01", "max_length=8") == "[CLS] and [SEP]"
    assert "(id 101)" in why("01", "max_length=8") and "(id 102)" in why("01", "max_length=8")
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (101, 102, 0)
    ids = tokenizer("zorblats after a long day, at home", truncation=True, max_length=8)["input_ids"]
    assert len(ids) == 8 and ids[0] == 101 and ids[-1] == 102


def test_01_broadcasting_needs_the_mask_unsqueezed():
    assert right("01", "Which product sets") == "states * attention_mask.unsqueeze(-1)"
    states, mask = torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [1, 0, 0]])  # (B, L, D), (B, L)
    for wrong in (lambda: states * mask, lambda: states * mask.unsqueeze(0), lambda: states.sum(dim=1) * mask):
        with pytest.raises(RuntimeError):
            wrong()
    out = states * mask.unsqueeze(-1)  # (B, L, D)
    assert out.shape == states.shape and (out[mask == 0] == 0).all() and torch.equal(out[mask == 1], states[mask == 1])


def test_03_the_same_word_starts_alike_and_ends_apart(minilm):
    tokenizer, encoder = minilm
    assert right("03", '"bank"') == "The same input embedding, different output vectors"
    enc = tokenizer(["we had a picnic on the river bank", "the bank raised its interest rates"],
                    return_tensors="pt", padding=True)
    bank = tokenizer.convert_tokens_to_ids("bank")
    where = [ids.tolist().index(bank) for ids in enc["input_ids"]]  # the same id in both captions
    with torch.no_grad():
        embedded = encoder.backbone.get_input_embeddings()(enc["input_ids"])  # (2, L, D)
        out = encoder.backbone(**enc).last_hidden_state  # (2, L, D)
    assert torch.equal(embedded[0, where[0]], embedded[1, where[1]])
    assert F.cosine_similarity(out[0, where[0]], out[1, where[1]], dim=0) < 0.95


# ----------------------------------------------------------------------------- 02

def test_02_the_full_designs_concat_vector_is_2816_wide():
    from transformers import DistilBertConfig

    from memelib.encoders import IMAGE_ENCODERS
    from memelib.fusion import build_fusion

    assert right("02", "How many numbers") == "2816 (768 + 2048)"
    full = preset("full").model
    assert full.text.name == "distilbert-base-uncased" and full.fusion.name == "concat"
    text_dim = DistilBertConfig().dim  # the defaults are distilbert-base-uncased's: 768
    image_dim = IMAGE_ENCODERS[full.image.name][1]
    assert (text_dim, image_dim) == (768, 2048)
    assert build_fusion(full.fusion, text_dim, image_dim).mlp[0].in_features == 2816
    assert IMAGE_ENCODERS[preset("offline").model.image.name][1] == 512  # the offline 384 + 512 = 896


def test_02_a_larger_image_changes_the_feature_map_not_the_pooled_vector():
    from memelib.encoders import build_image_encoder

    assert right("02", "256 px") == "Only the feature map (B, Di, h, w)"
    encoder = build_image_encoder(preset("offline").model.image).eval()  # random-init ResNet18, no download
    trunk = torch.nn.Sequential(*list(encoder.backbone.children())[:-2])  # up to the last block
    shapes = {}
    with torch.no_grad():
        for size in (64, 128):
            x = torch.randn(1, 3, size, size)
            shapes[size] = (tuple(trunk(x).shape), tuple(encoder(x).shape))
    assert shapes[64] == ((1, 512, 2, 2), (1, 512)) and shapes[128] == ((1, 512, 4, 4), (1, 512))


def test_02_cross_entropy_from_logits_is_stable_and_log_2_for_a_guess():
    assert right("02", "end with logits").startswith("log_softmax never takes the log of a probability rounded to 0")
    assert right("02", "50/50").startswith("log 2")
    big, true = torch.tensor([[1000.0, 0.0]]), torch.tensor([1])
    assert math.isinf(-torch.softmax(big, dim=-1).log()[0, 1].item()) and F.cross_entropy(big, true).item() == 1000
    guess = F.cross_entropy(torch.zeros(6, 2), torch.tensor([0, 1, 1, 0, 1, 0]))
    assert abs(guess.item() - math.log(2)) < 1e-6 and abs(math.log(2) - 0.693) < 1e-3


# ----------------------------------------------------------------------------- 03

def test_03_locked_encoders_leave_only_the_head_training():
    from memelib.model import build_model

    assert right("03", "lock_encoders").startswith("Only the fusion head")
    model = build_model(preset("tiny").model)
    model.lock_encoders()
    model.train()
    towers = (model.text_encoder, model.image_encoder)
    assert all(not p.requires_grad for t in towers for p in t.parameters()) and not any(t.training for t in towers)
    assert all(p.requires_grad for p in model.fusion.parameters()) and model.fusion.training


def test_03_an_edited_caption_changes_the_cache_key(synth_dir):
    from memelib.features import data_fingerprint

    assert right("03", "exclamation mark") == "The data fingerprint changes: the features are extracted again"
    dev = read_split(synth_dir, "dev")
    edited = [dataclasses.replace(dev[0], text=dev[0].text + "!")] + dev[1:]
    assert data_fingerprint(edited, synth_dir) != data_fingerprint(dev, synth_dir) == data_fingerprint(dev, synth_dir)


def test_03_the_label_is_an_xor_that_neither_input_decides_alone():
    assert right("03", "Linear probes").startswith("The label is an XOR")
    for frame in ("is", "never"):  # the picture alone flips the label...
        assert label_rule("zorblats", frame, "degrading") != label_rule("zorblats", frame, "pleasant")
    for valence in ("degrading", "pleasant"):  # ...and so does the frame alone
        assert label_rule("zorblats", "is", valence) != label_rule("zorblats", "never", valence)


def test_03_without_the_scaling_softmax_puts_nearly_all_weight_on_one_token():
    assert right("03", "sqrt(d)").startswith("Else wide vectors give large scores")
    g = torch.Generator().manual_seed(0)
    d = 256
    q, k = torch.randn(64, 8, d, generator=g), torch.randn(64, 8, d, generator=g)  # (B, L, d) each
    scores = q @ k.transpose(-2, -1)  # (B, L, L)
    raw, scaled = scores.softmax(dim=-1), (scores / math.sqrt(d)).softmax(dim=-1)
    assert torch.allclose(raw.sum(-1), torch.ones(64, 8), atol=1e-5)  # rows sum to 1 with or without it
    assert raw.amax(-1).mean() > 0.9 > 0.5 > scaled.amax(-1).mean()


# ----------------------------------------------------------------------------- 04

def test_04_a_late_head_has_no_interaction_a_concat_head_has_one():
    from memelib.fusion import ConcatFusion, LateFusion

    assert right("04", "late fusion not learn").startswith("Its score is a sum f(t) + g(i)")
    torch.manual_seed(0)
    cfg = FusionConfig()
    heads = {"late": LateFusion(384, 512, cfg).eval(), "concat": ConcatFusion(384, 512, cfg).eval()}
    t1, t2, i1, i2 = torch.randn(16, 384), torch.randn(16, 384), torch.randn(16, 512), torch.randn(16, 512)

    def score(head, t, i):  # (B,) logit of hateful minus logit of benign
        with torch.no_grad():
            logits = head(t, i)
        return logits[:, 1] - logits[:, 0]

    interaction = {name: score(h, t1, i1) + score(h, t2, i2) - score(h, t1, i2) - score(h, t2, i1)
                   for name, h in heads.items()}
    assert interaction["late"].abs().max() < 1e-4 < interaction["concat"].abs().max()
    size = {name: sum(p.numel() for p in h.parameters()) for name, h in heads.items()}
    assert size["late"] > size["concat"], size  # "it has fewer weights" is not the reason


def test_04_accuracy_flatters_a_model_that_calls_nothing_hateful():
    from memelib.metrics import compute_metrics

    assert right("04", "lazy") == "Hateful recall: 0"
    labels = np.array([0] * 205 + [1] * 95)  # dev: 95 hateful of 300
    m = compute_metrics(labels, np.full(300, 0.2))
    assert round(m["accuracy"], 2) == 0.68 and m["recall"] == [1.0, 0.0] and m["auroc"] == 0.5
    assert abs(m["macro_f1"] - 0.4) < 0.01


def test_04_a_twin_with_the_same_score_is_a_tie_worth_half():
    from memelib.metrics import auroc_by_kind

    assert right("04", "benign_image_swap twins").startswith("Same caption, same score")
    scores = np.random.default_rng(0).uniform(size=20)
    probs = np.concatenate([scores, scores])  # each twin gets its hateful meme's score
    labels = np.array([1] * 20 + [0] * 20)
    kinds = ["hateful"] * 20 + ["benign_image_swap"] * 20
    assert math.isclose(auroc_by_kind(labels, probs, kinds)["benign_image_swap"], 0.5)  # up to float rounding
    probs[20:] = np.random.default_rng(1).uniform(size=20)  # twins with scores of their own: no longer 0.5
    assert not math.isclose(auroc_by_kind(labels, probs, kinds)["benign_image_swap"], 0.5)


# ----------------------------------------------------------------------------- 05

def test_05_backward_adds_to_the_gradient_until_zero_grad():
    assert right("05", "zero_grad") == "Each step also carries all earlier batches' gradients"
    w = torch.nn.Parameter(torch.tensor(0.0))
    sgd = torch.optim.SGD([w], lr=0.1)
    ((w - 3) ** 2).backward()
    sgd.step()  # the step leaves .grad as it is
    assert w.grad.item() == -6.0
    ((w - 3) ** 2).backward()
    assert abs(w.grad.item() - (-10.8)) < 1e-5  # the new -4.8 plus the old -6
    sgd.zero_grad()
    assert w.grad is None


def test_05_clipping_scales_all_gradients_together():
    assert right("05", "clip_grad_norm_").startswith("(3, 4, 12) / 13")
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([3.0, 4.0, 12.0])
    assert torch.nn.utils.clip_grad_norm_([p], max_norm=preset("offline").train.max_grad_norm).item() == 13.0
    assert torch.allclose(p.grad, torch.tensor([3.0, 4.0, 12.0]) / 13)


def test_05_a_class_weighted_loss_divides_by_the_sum_of_the_weights():
    from memelib.train import class_weights

    assert right("05", "nn.CrossEntropyLoss(weight=w)") == "The weighted sum, divided by the sum of the weights"
    g = torch.Generator().manual_seed(0)
    logits, labels, w = torch.randn(8, 2, generator=g), torch.tensor([0, 1, 1, 0, 0, 0, 1, 0]), torch.tensor([0.8, 1.3])
    per_meme = F.cross_entropy(logits, labels, reduction="none") * w[labels]  # (B,)
    torch_loss = torch.nn.CrossEntropyLoss(weight=w)(logits, labels)
    assert torch.isclose(torch_loss, per_meme.sum() / w[labels].sum())
    assert not torch.isclose(torch_loss, per_meme.sum() / len(labels))
    # class weights N / (C * count): both classes weigh the same in total (546 and 354 training memes: 450 each)
    y = torch.tensor([0] * 546 + [1] * 354)
    weights = class_weights(y)
    assert torch.allclose(torch.tensor([546.0, 354.0]) * weights, torch.tensor([450.0, 450.0]))
    assert right("05", "class weights change") == "At 0.5: higher hateful recall, lower precision"


def test_05_the_offline_preset_stops_after_6_epochs_without_a_better_dev_auroc():
    assert right("05", "patience").startswith("After 6 epochs with no better dev AUROC")
    assert preset("offline").train.patience == 6


# ----------------------------------------------------------------------------- 06

def test_06_a_lower_threshold_catches_more_and_flags_more():
    from memelib.metrics import compute_metrics

    assert right("06", "lower the threshold") == "Recall rises or stays; false positives rise or stay"
    assert right("06", "same AUROC") == "AUROC uses only the order of the probabilities"
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(0.3 * labels + rng.uniform(0, 0.7, 200), 0, 1)
    low, high = compute_metrics(labels, probs, 0.3), compute_metrics(labels, probs, 0.5)
    assert low["recall"][1] >= high["recall"][1] and low["confusion_matrix"][0][1] >= high["confusion_matrix"][0][1]
    assert low["auroc"] == high["auroc"] and low["accuracy"] != high["accuracy"]


def test_06_precision_and_recall_of_a_confusion_matrix():
    assert right("06", "[[80, 20], [10, 30]]") == "Precision 0.6, recall 0.75"
    (tn, fp), (fn, tp) = [[80, 20], [10, 30]]
    labels = np.array([0] * (tn + fp) + [1] * (fn + tp))
    preds = np.array([0] * tn + [1] * fp + [0] * fn + [1] * tp)
    assert (precision_score(labels, preds), recall_score(labels, preds)) == (0.6, 0.75)


def test_06_a_recall_policy_is_the_highest_threshold_that_meets_it():
    assert right("06", "policy").startswith("The highest threshold")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 120)
    probs = np.round(np.clip(0.3 * labels + rng.uniform(0, 0.7, 120), 0, 1), 3)
    meets = [t for t in np.unique(probs) if (probs[labels == 1] >= t).mean() >= 0.9]
    highest, lowest = max(meets), min(meets)
    fpr, tpr, thresholds = roc_curve(labels, probs, drop_intermediate=False)
    i = np.argmax(tpr >= 0.9)  # the first ROC point (highest threshold first) that meets the policy
    assert np.isclose(thresholds[i], highest)
    assert (probs[labels == 0] >= highest).sum() < (probs[labels == 0] >= lowest).sum()  # fewer benign flagged


# ----------------------------------------------------------------------------- 07

def test_07_a_groups_fpr_is_the_share_of_its_benign_memes_flagged():
    from memelib.metrics import group_report

    assert right("07", "false positive rate (FPR) measure") == "Of the group's benign memes, the share flagged hateful"
    labels = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 1])
    probs = np.array([0.9, 0.8, 0.1, 0.2, 0.9, 0.1, 0.9, 0.1, 0.1, 0.8])
    groups = ["zorblats"] * 6 + ["flumps"] * 3 + [None]
    row = {r.group: r for r in group_report(labels, probs, groups, 0.5).rows}["zorblats"]
    assert row.fpr == 2 / 4 and row.fpr_others == 1 / 3 and row.fnr == 1 / 2  # benign flagged / benign


def test_07_test_seen_is_labelled_and_a_bootstrap_resample_repeats_and_leaves_out_memes(synthmemes):
    assert right("07", "scored only once").startswith("Dev made the choices, so it is optimistic")
    assert all(m["label"] in (0, 1) for m in synthmemes["test_seen"])  # "it has no labels" is not the reason
    assert right("07", "bootstrap resample") == "Some memes come up twice or more, others not at all"
    idx = np.random.default_rng(0).integers(0, 300, size=300)  # the resample notebook 07 prints
    times = np.bincount(idx, minlength=300)
    assert (np.sum(times > 0), np.sum(times == 0)) == (189, 111) and times.max() > 1
    assert "189 different memes and left 111 out" in why("07", "bootstrap resample")


def test_07_cell_weights_weigh_only_the_bias_groups_benign_memes():
    from memelib.data import cell_weights

    assert right("07", "three times the weight").startswith("It narrowed the FPR gap")
    groups = ["quibbits", "quibbits", "zorblats", None]
    records = [Record(str(i), f"img/{i}.png", "a caption", label, "train.jsonl", i + 1)
               for i, label in enumerate([0, 1, 0, 0])]
    assert cell_weights(records, groups, {("quibbits", 0): 3.0}) == {"0": 3.0, "1": 1.0, "2": 1.0, "3": 1.0}
