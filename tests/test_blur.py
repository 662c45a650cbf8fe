"""Real memes can be hateful: galleries and widgets blur them (and hide their captions) unless the data
is SynthMemes, and a Reveal button shows one meme at a time. SynthMemes is a folder with a meta.jsonl;
the "real" folder here is a copy of it without that file."""

import datetime as dt
import io
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from memelib.annotations import read_split
from memelib.images import blur_image
from memelib.plots import meme_gallery
from memelib.scenes import SCENES, render_meme
from memelib.widgets import HIDDEN_CAPTION, MemeTester, ThresholdExplorer, png_thumbnail


def fine_detail(image) -> float:
    """Energy of the detail finer than a quarter of the picture (above 4 cycles per image): the strokes of
    words, faces, symbols. A Hann window keeps the picture's edges from counting as detail."""
    if isinstance(image, (bytes, memoryview)):  # PNG bytes, as an Image widget holds them
        image = Image.open(io.BytesIO(bytes(image)))
    g = np.asarray(image.convert("L") if isinstance(image, Image.Image) else image, dtype=float)
    if g.ndim == 3:  # an (H, W, 3) array from matplotlib
        g = g.mean(axis=2)
    h, w = g.shape
    power = np.abs(np.fft.fft2((g - g.mean()) * np.outer(np.hanning(h), np.hanning(w)))) ** 2
    cycles = np.hypot(np.fft.fftfreq(h)[:, None] * h, np.fft.fftfreq(w)[None, :] * w)  # per picture
    return float(power[cycles >= 4].sum())


def hidden(blurred, clear) -> bool:
    """Whether `blurred` keeps under 0.2% of the fine detail of `clear`. memelib's blur keeps under 0.1%;
    a blur half as strong keeps more than 0.2%, and the words on a thumbnail would start to show."""
    return fine_detail(blurred) < 0.002 * fine_detail(clear)


@pytest.fixture(scope="module")
def real_dir(synth_dir, tmp_path_factory):
    """The same memes as `synth_dir`, but without meta.jsonl: to memelib, data that is not SynthMemes."""
    root = tmp_path_factory.mktemp("real") / "data"
    shutil.copytree(synth_dir, root, ignore=shutil.ignore_patterns("meta.jsonl"))
    return root


@pytest.fixture(scope="module")
def dev(synth_dir):
    records = read_split(synth_dir, "dev")
    labels = np.array([r.label for r in records])
    probs = np.linspace(0.05, 0.95, len(records))  # every cell of the matrix gets memes
    return labels, probs, records


@pytest.mark.parametrize("size", [48, 128, 400])
def test_blur_hides_the_detail_and_keeps_the_size_and_colours(size):
    clear = render_meme(next(iter(SCENES)), 3, "this is how zorblats live", image_size=size)
    blurred = blur_image(clear)
    assert blurred.size == clear.size and blurred.mode == clear.mode
    assert hidden(blurred, clear)
    mean_shift = np.abs(np.asarray(blurred, float).mean((0, 1)) - np.asarray(clear, float).mean((0, 1)))
    assert mean_shift.max() < 12  # still the meme's colours, not a blank square
    thumb, thumb_blurred = png_thumbnail(clear, 128), png_thumbnail(clear, 128, blur=True)
    assert Image.open(io.BytesIO(thumb)).size == Image.open(io.BytesIO(thumb_blurred)).size
    assert hidden(thumb_blurred, thumb)


def parts(card):
    image, caption, *button = card.children
    return image.value, caption.value, button


def test_explorer_blurs_other_data_by_default_and_reveals_one_meme_at_a_time(dev, real_dir):
    labels, probs, records = dev
    explorer = ThresholdExplorer(labels, probs, records, real_dir, max_memes=6)
    assert explorer.blur
    explorer.select_cell(1, 1)
    cards = explorer.gallery.children
    assert len(cards) >= 3 and "Reveal" in explorer.gallery_note.value
    for card, i in zip(cards, explorer.shown):
        image, caption, button = parts(card)
        assert HIDDEN_CAPTION in caption and records[i].text not in caption
        assert f"id {records[i].id} " in caption and "p = " in caption  # what the analysis needs stays
        assert image == png_thumbnail(real_dir / records[i].img, 128, blur=True)
        clear = png_thumbnail(real_dir / records[i].img, 128)
        assert Image.open(io.BytesIO(image)).size == Image.open(io.BytesIO(clear)).size
        assert hidden(image, clear)
        assert button[0].description == "Reveal" and "memelib-reveal" in button[0]._dom_classes
    before = [parts(card)[:2] for card in cards]

    k, i = 1, explorer.shown[1]
    parts(cards[k])[2][0].click()
    image, caption, button = parts(cards[k])
    assert image == png_thumbnail(real_dir / records[i].img, 128) and records[i].text in caption
    assert HIDDEN_CAPTION not in caption and button[0].description == "Hide"
    assert [parts(c)[:2] for j, c in enumerate(cards) if j != k] == [b for j, b in enumerate(before) if j != k]

    explorer.set_threshold(0.5)  # the gallery is redrawn: the revealed meme stays clear, the others blurred
    captions = {j: parts(c)[1] for j, c in zip(explorer.shown, explorer.gallery.children)}
    assert records[i].text in captions[i]
    assert all(HIDDEN_CAPTION in c for j, c in captions.items() if j != i)
    card = explorer.gallery.children[explorer.shown.index(i)]
    parts(card)[2][0].click()  # "Hide": blurred again
    assert HIDDEN_CAPTION in parts(card)[1] and parts(card)[0] == png_thumbnail(real_dir / records[i].img, blur=True)


def test_explorer_shows_synthmemes_clearly_and_blur_overrides_the_default(dev, synth_dir, real_dir):
    labels, probs, records = dev
    for root, blur in ((synth_dir, None), (real_dir, False)):
        explorer = ThresholdExplorer(labels, probs, records, root, blur=blur)
        assert not explorer.blur
        explorer.select_cell(0, 0)
        for card, i in zip(explorer.gallery.children, explorer.shown):
            image, caption, button = parts(card)
            assert not button and records[i].text in caption and HIDDEN_CAPTION not in caption
            assert image == png_thumbnail(root / records[i].img, 128)
    forced = ThresholdExplorer(labels, probs, records, synth_dir, blur=True)
    forced.select_cell(0, 0)
    assert all(HIDDEN_CAPTION in parts(card)[1] for card in forced.gallery.children)


class EchoPredictor:
    """Stands in for a Predictor: remembers the caption it was given."""

    threshold = 0.5

    def __init__(self):
        self.texts = []

    def predict(self, image, text):
        self.texts.append(text)
        return {"prob": 0.25}


def test_meme_tester_blurs_a_real_example_until_revealed(dev, real_dir):
    _, _, records = dev
    r = records[0]
    path = real_dir / r.img
    predictor = EchoPredictor()
    tester = MemeTester(predictor, example=(path, r.text))
    assert tester.blur
    tester.example_button.click()
    assert tester.preview.value == png_thumbnail(path, 192, blur=True) and tester.caption.value == ""
    assert tester.reveal_button.layout.display != "none" and tester.reveal_button.description == "Reveal"
    tester.predict_clicked()
    assert predictor.texts == [r.text]  # the hidden caption is still what the model scores
    assert "No caption" not in tester.result.value and r.text not in tester.result.value
    tester.reveal_button.click()
    assert tester.preview.value == png_thumbnail(path, 192) and tester.caption.value == r.text
    tester.reveal_button.click()  # hidden again
    assert tester.preview.value == png_thumbnail(path, 192, blur=True) and tester.caption.value == ""

    own = io.BytesIO()
    Image.open(path).save(own, format="PNG")
    tester.upload.value = ({"name": "mine.png", "type": "image/png", "size": len(own.getvalue()),
                            "content": memoryview(own.getvalue()),
                            "last_modified": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)},)
    assert tester.preview.value == png_thumbnail(path, 192)  # your own upload is never blurred
    assert tester.reveal_button.layout.display == "none"
    tester.reveal_button.click()  # nothing to reveal or hide
    assert tester.preview.value == png_thumbnail(path, 192)


def test_meme_tester_shows_a_synthmemes_example(dev, synth_dir):
    _, _, records = dev
    r = records[0]
    tester = MemeTester(EchoPredictor(), example=(synth_dir / r.img, r.text))
    assert not tester.blur
    tester.example_button.click()
    assert tester.preview.value == png_thumbnail(synth_dir / r.img, 192) and tester.caption.value == r.text
    assert tester.reveal_button.layout.display == "none"


def gallery_parts(fig):
    axes = [ax for ax in fig.axes if ax.images]
    return [ax.get_title() for ax in axes], [np.asarray(ax.images[0].get_array()) for ax in axes]


def test_meme_gallery_blurs_other_data_and_hides_captions(dev, synth_dir, real_dir):
    _, _, records = dev
    records = records[:4]
    notes = [f"p=0.{k}" for k in range(4)]
    clear_titles, clear_images = gallery_parts(meme_gallery(records, synth_dir, notes))
    assert all(re.sub(r"\s+", " ", t).startswith(r.text) for t, r in zip(clear_titles, records))
    fig = meme_gallery(records, real_dir, notes)
    titles, images = gallery_parts(fig)
    assert len(images) == 4
    for title, note, r, image, clear in zip(titles, notes, records, images, clear_images):
        assert "caption hidden" in title and note in title
        assert not any(word in title for word in r.text.split() if len(word) > 3)
        assert image.shape == clear.shape and hidden(image, clear)
    assert any("blur=False" in t.get_text() for t in fig.texts)  # the figure says how to see them
    shown_titles, shown_images = gallery_parts(meme_gallery(records, real_dir, notes, blur=False))
    assert shown_titles == clear_titles and all(np.array_equal(a, b) for a, b in zip(shown_images, clear_images))
    forced_titles, _ = gallery_parts(meme_gallery(records, synth_dir, notes, blur=True))
    assert all("caption hidden" in t for t in forced_titles)
