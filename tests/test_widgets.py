"""The notebook-06 widgets without a browser: their callbacks are called directly (ipywidgets works
without a kernel) and their state is read back from the widgets themselves."""

import datetime as dt
import html
import io
import re

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from memelib.annotations import Record, read_split
from memelib.metrics import compute_metrics
from memelib.scenes import SCENES, render_meme
from memelib.widgets import CELL_NAMES, MemeTester, ThresholdExplorer

N = 40
KINDS = ("hateful", "benign_image_swap", "benign_text_swap", "benign_plain")


@pytest.fixture(scope="module")
def memes(tmp_path_factory):
    """40 real PNG memes with labels, P(hateful) and kinds: (labels, probs, records, root, kinds)."""
    root = tmp_path_factory.mktemp("memes")
    (root / "img").mkdir()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, N)
    probs = np.clip(0.35 * labels + rng.uniform(0, 0.65, N), 0, 0.999).round(4)  # informative, not perfect
    scenes = list(SCENES)
    records = []
    for i in range(N):
        text = f"caption number {i}"
        render_meme(scenes[i % len(scenes)], i, text, image_size=48).save(root / "img" / f"{100 + i}.png")
        records.append(Record(str(100 + i), f"img/{100 + i}.png", text, int(labels[i]), str(root / "dev.jsonl"), i + 1))
    kinds = [KINDS[0] if y else KINDS[1 + i % 3] for i, y in enumerate(labels)]
    return labels, probs, records, root, kinds


def shown_counts(explorer):
    """The counts the buttons display (not the `counts` property): what a user sees."""
    return {key: int(explorer.cells[cell].description.split("\n")[1])
            for key, cell in zip(("tn", "fp", "fn", "tp"), ((0, 0), (0, 1), (1, 0), (1, 1)))}


def gallery_ids(explorer):
    """The meme ids written in the gallery's captions, in display order."""
    return [re.search(r"id (\S+) ", card.children[1].value).group(1) for card in explorer.gallery.children]


def test_moving_the_slider_updates_buttons_and_metrics(memes):
    labels, probs, records, root, kinds = memes
    explorer = ThresholdExplorer(labels, probs, records, root, kinds, threshold=0.5)
    before = (shown_counts(explorer), explorer.metrics_html.value)
    for t in (0.2, 0.35, 0.5, 0.63, 0.9):
        explorer.slider.value = t  # as a user's drag: only the observer can update the display
        tn, fp, fn, tp = confusion_matrix(labels, (probs >= t).astype(int), labels=[0, 1]).ravel()
        want = {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}
        assert shown_counts(explorer) == want == explorer.counts
        for cell, name in CELL_NAMES.items():
            assert explorer.cells[cell].description.startswith(name + "\n")
        m = compute_metrics(labels, probs, t)
        html = explorer.metrics_html.value
        assert f"threshold {t:.2f}" in html
        for value in (m["accuracy"], m["macro_f1"], m["precision"][1], m["recall"][1], m["auroc"]):
            assert f"{value:.3f}" in html
    explorer.set_threshold(0.2)
    assert (shown_counts(explorer), explorer.metrics_html.value) != before
    explorer.set_threshold(0.5)
    assert (shown_counts(explorer), explorer.metrics_html.value) == before


def test_selecting_a_cell_shows_exactly_its_memes_most_confident_first(memes):
    labels, probs, records, root, kinds = memes
    explorer = ThresholdExplorer(labels, probs, records, root, kinds, threshold=0.45, max_memes=5)
    ids = np.array([r.id for r in records])
    for (t, p) in CELL_NAMES:
        explorer.select_cell(t, p)
        members = np.flatnonzero((labels == t) & ((probs >= 0.45).astype(int) == p))
        order = members[np.argsort(-np.abs(probs[members] - 0.45), kind="stable")]
        assert gallery_ids(explorer) == ids[order][:5].tolist()
        assert len(explorer.gallery.children) == min(5, len(members))
        assert f"{len(members)} {CELL_NAMES[t, p]}" in explorer.gallery_note.value
        distances = np.abs(probs[explorer.shown] - 0.45)
        assert np.all(np.diff(distances) <= 0)  # most confident first
        for card in explorer.gallery.children:
            image = Image.open(io.BytesIO(card.children[0].value))
            assert image.format == "PNG" and max(image.size) <= 128
            assert "p = " in card.children[1].value and "true: " in card.children[1].value
    assert "memelib-cell-1-1" in explorer.cells[1, 1]._dom_classes
    first_caption = explorer.gallery.children[0].children[1].value
    assert kinds[explorer.shown[0]] in first_caption  # the SynthMemes kind is on the card


def test_clicking_a_button_selects_its_cell_and_the_gallery_follows_the_slider(memes):
    labels, probs, records, root, kinds = memes
    explorer = ThresholdExplorer(labels, probs, records, root, kinds, max_memes=50)
    assert not explorer.gallery.children and "Click a cell" in explorer.gallery_note.value
    explorer.cells[1, 0].click()  # the false negatives
    assert explorer.selected == (1, 0)
    assert [key for key, b in explorer.cells.items() if "memelib-selected" in b._dom_classes] == [(1, 0)]
    assert len(explorer.gallery.children) == explorer.counts["fn"]
    explorer.slider.value = 0.8  # more hateful memes are missed now: the gallery grows
    assert len(explorer.gallery.children) == explorer.counts["fn"] > 0
    assert set(gallery_ids(explorer)) == {r.id for r, y, q in zip(records, labels, probs) if y == 1 and q < 0.8}
    explorer.cells[1, 1].click()  # the frame moves: one selected cell at a time
    assert [key for key, b in explorer.cells.items() if "memelib-selected" in b._dom_classes] == [(1, 1)]


def test_an_empty_cell_says_so(memes):
    labels, probs, records, root, kinds = memes
    explorer = ThresholdExplorer(labels, probs, records, root, threshold=1.0)  # nothing reaches 1.0
    explorer.select_cell(1, 1)
    assert explorer.counts["tp"] == 0 and explorer.gallery.children == ()
    assert "No memes" in explorer.gallery_note.value
    assert "true positive\n0" == explorer.cells[1, 1].description


def test_explorer_refuses_mismatched_inputs(memes):
    labels, probs, records, root, _ = memes
    with pytest.raises(ValueError, match="same length"):
        ThresholdExplorer(labels[:-1], probs, records, root)
    with pytest.raises(ValueError, match="0 or 1"):
        ThresholdExplorer(np.full(N, -1), probs, records, root)


# --------------------------------------------------------------------------- MemeTester on a real tiny run

@pytest.fixture(scope="module")
def tiny_predictor(tmp_path_factory):
    import memelib
    from memelib.inference import Predictor
    from memelib.synthetic import SynthConfig, generate

    tmp = tmp_path_factory.mktemp("tester")
    data, out = tmp / "data", tmp / "run"
    generate(data, SynthConfig(n_train=30, n_dev=15, n_test=6, image_size=48))
    memelib.fit(memelib.preset("tiny", cache_dir=str(tmp / "cache")), data, out, progress=False, log=lambda s: None)
    return Predictor(out, device="cpu"), data


def upload(tester, content: bytes, name: str, type_: str = "image/png"):
    """Set the FileUpload's value as ipywidgets 8 does after a browser upload."""
    tester.upload.value = ({"name": name, "type": type_, "size": len(content), "content": memoryview(content),
                            "last_modified": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)},)


def shown_prob(tester) -> float:
    return float(re.search(r"P\(hateful\) = (\d\.\d\d) -> ", tester.result.value).group(1))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])  # a JPEG named .png opens too: the bytes decide
def test_meme_tester_predicts_an_upload(tiny_predictor, fmt):
    predictor, data = tiny_predictor
    tester = MemeTester(predictor)
    image = Image.open(data / "img" / "10000.png").convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    upload(tester, buffer.getvalue(), "my meme.png")
    assert tester.preview.value[:4] == b"\x89PNG"
    tester.caption.value = "this is how zorblats live"
    tester.button.click()
    decoded = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    want = predictor.predict(decoded, "this is how zorblats live")
    assert shown_prob(tester) == pytest.approx(round(want["prob"], 2))
    verdict = "not hateful" if want["prob"] < predictor.threshold else "<b>hateful"
    assert verdict in tester.result.value and f"threshold {predictor.threshold:.2f}" in tester.result.value


def test_meme_tester_without_an_upload_or_with_garbage_explains(tiny_predictor):
    predictor, _ = tiny_predictor
    tester = MemeTester(predictor)
    tester.predict_clicked()
    assert "No image yet" in tester.result.value
    upload(tester, b"this is not a picture at all", "notes.png")
    assert "Cannot use notes.png" in tester.result.value  # said already when the file arrives
    tester.caption.value = "anything"
    tester.predict_clicked()
    assert "Cannot use notes.png" in tester.result.value and "not an image" in tester.result.value
    assert "P(hateful)" not in tester.result.value and tester.preview.value == b""


def test_meme_tester_example_and_a_failing_model(tiny_predictor):
    predictor, data = tiny_predictor
    path = data / "img" / "10001.png"
    tester = MemeTester(predictor, example=(path, "what quibbits wish they had"))
    tester.example_button.click()
    assert tester.upload.value[0]["name"] == "10001.png" and tester.caption.value == "what quibbits wish they had"
    tester.predict_clicked()
    assert shown_prob(tester) == pytest.approx(round(predictor.predict(path, "what quibbits wish they had")["prob"], 2))
    for css in ("memelib-upload", "memelib-caption", "memelib-predict", "memelib-result"):
        assert any(css in w._dom_classes for w in (tester.upload, tester.caption, tester.button, tester.result))

    class Broken:
        threshold = 0.5

        def predict(self, image, text):
            raise RuntimeError("weights missing")

    broken = MemeTester(Broken(), example=(path, "x"))
    broken.use_example(path)
    broken.predict_clicked()  # never raises
    assert "RuntimeError: weights missing" in broken.result.value


# --------------------------------------------------------------------------- the "why?" button

def why_words(panel) -> list[str]:
    return [html.unescape(w) for w in re.findall(r"<span class='memelib-why-word'[^>]*>([^<]*)</span>", panel.words.value)]


def test_why_in_the_tester_shows_the_words_and_the_heat_map(tiny_predictor):
    from memelib.explain import explain

    predictor, data = tiny_predictor
    tester = MemeTester(predictor)
    path, text = data / "img" / "10000.png", "zorblats are vermin"
    upload(tester, path.read_bytes(), "10000.png")
    tester.caption.value = text
    assert tester.why.widget.layout.display == "none"  # nothing shown before a click
    tester.why_button.click()
    panel = tester.why
    want = explain(predictor, path, text)
    assert panel.widget.layout.display is None and why_words(panel) == want.words == ["zorblats", "are", "vermin"]
    assert panel.explanation.word_scores == pytest.approx(want.word_scores, abs=1e-5)
    heat = Image.open(io.BytesIO(panel.heat.value))
    assert heat.size == (192, 192)
    assert f"P(hateful) = {predictor.predict(path, text)['prob']:.2f}" in panel.title.value
    assert "with an empty caption" in panel.shares.value and "with a neutral picture" in panel.shares.value
    assert "memelib-why" in tester.why_button._dom_classes and "memelib-why-panel" in panel.widget._dom_classes


def test_why_says_what_is_missing_and_never_raises(tiny_predictor):
    predictor, data = tiny_predictor
    tester = MemeTester(predictor)
    tester.why_clicked()
    assert "No image yet" in tester.result.value and tester.why.widget.layout.display == "none"

    class NotAMemelibPredictor:
        threshold = 0.5

        def predict(self, image, text):
            return {"prob": 0.5}

    other = MemeTester(NotAMemelibPredictor())
    upload(other, (data / "img" / "10000.png").read_bytes(), "a.png")
    other.why_clicked()
    assert "Cannot explain a.png" in other.why.title.value and other.why.explanation is None


def test_why_in_the_gallery_explains_a_meme_and_keeps_hidden_memes_hidden(tiny_predictor):
    predictor, data = tiny_predictor
    dev = read_split(data, "dev")
    probs = predictor.predict_records(dev, data, progress=False)
    labels = [r.label for r in dev]
    for blur in (False, True):
        explorer = ThresholdExplorer(labels, probs, dev, data, threshold=0.5, blur=blur, predictor=predictor)
        explorer.select_cell(*next(k for k in CELL_NAMES if explorer.cell_indices(*k)))
        card = explorer.gallery.children[0]
        why = next(b for b in card.children if "memelib-why" in getattr(b, "_dom_classes", ()))
        why.click()
        i, panel = explorer.shown[0], explorer.why
        assert panel.explanation is not None and f"meme {dev[i].id}" in panel.title.value
        assert panel.explanation.prob == pytest.approx(probs[i], abs=1e-4)  # the score the gallery shows
        if blur:  # hidden: no words, and the heat map is drawn over the blurred meme
            assert why_words(panel) == [] and "Caption hidden" in panel.words.value
            assert dev[i].text not in panel.words.value + panel.title.value
            explorer.revealed.add(i)
            blurred = panel.heat.value
            explorer.explain_meme(i)
            assert panel.heat.value != blurred
        assert why_words(explorer.why) == explorer.why.explanation.words


def test_an_explorer_without_a_predictor_has_no_why_button(memes):
    labels, probs, records, root, kinds = memes
    explorer = ThresholdExplorer(labels, probs, records, root, kinds)
    explorer.select_cell(1, 1)
    assert explorer.why is None
    assert not any("memelib-why" in getattr(b, "_dom_classes", ()) for c in explorer.gallery.children for b in c.children)
    with pytest.raises(ValueError, match="no predictor"):
        explorer.explain_meme(0)
