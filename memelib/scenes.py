"""Drawing SynthMemes: symbolic scenes and the caption written on them as meme text.

Each scene draws on a square of side ``s`` with its own palette; its details come from a seeded
``random.Random``. The rules that decide which caption meets which scene, and the labels, live in
`memelib.synthetic`. Explained in notebook 00.
"""

from __future__ import annotations

import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["SCENES", "render_meme"]

# ----------------------------------------------------------------------------- scenes
# Each scene draws on a square of side ``s`` with its own palette, details from ``rng``.
# Degrading scenes use browns, greys and murky greens; pleasant ones bright blues, yellows and
# pinks: a random-init CNN sees colour and coarse layout far better than fine shapes.

RGB = tuple[int, int, int]


def _shade(rng: random.Random, rgb: RGB, amount: int = 16) -> RGB:
    """A colour near ``rgb``: every channel moved by up to ``amount``."""
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def _blob(draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill: RGB) -> None:
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)


def _trash_heap(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    horizon = s * rng.uniform(0.45, 0.6)
    draw.rectangle((0, 0, s, horizon), fill=_shade(rng, (128, 126, 118)))  # overcast sky
    draw.rectangle((0, horizon, s, s), fill=_shade(rng, (96, 78, 56)))  # dirt
    for _ in range(rng.randint(8, 14)):  # bags and junk piled in the middle
        cx, cy = s * rng.uniform(0.2, 0.8), horizon + s * rng.uniform(-0.12, 0.3)
        _blob(draw, cx, cy, s * rng.uniform(0.06, 0.14), s * rng.uniform(0.05, 0.1),
              _shade(rng, rng.choice([(58, 60, 56), (80, 84, 60), (104, 90, 66)])))
    for _ in range(rng.randint(6, 14)):  # flies
        x, y = s * rng.random(), s * rng.uniform(0.15, 0.7)
        draw.rectangle((x, y, x + 1, y + 1), fill=(25, 25, 20))


def _sewer(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    draw.rectangle((0, 0, s, s), fill=_shade(rng, (72, 74, 70)))  # brick wall
    brick = max(4, s // 12)
    for y in range(0, s, brick):
        draw.line((0, y, s, y), fill=(50, 52, 48))
    _blob(draw, s / 2, s * 0.62, s * rng.uniform(0.3, 0.4), s * rng.uniform(0.3, 0.38), _shade(rng, (34, 36, 32)))
    water = s * rng.uniform(0.65, 0.78)
    draw.rectangle((0, water, s, s), fill=_shade(rng, (66, 84, 48)))  # murky water
    for _ in range(rng.randint(2, 4)):  # rats with tails
        cx, cy = s * rng.uniform(0.15, 0.85), water - s * 0.03
        r = s * rng.uniform(0.05, 0.08)
        tail = -1 if rng.random() < 0.5 else 1
        draw.line((cx + tail * r, cy, cx + tail * 2.2 * r, cy - r * 0.6), fill=(60, 50, 45), width=max(1, s // 96))
        _blob(draw, cx, cy, r, r * 0.6, _shade(rng, (98, 90, 84)))


def _mud_pit(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    horizon = s * rng.uniform(0.35, 0.5)
    draw.rectangle((0, 0, s, horizon), fill=_shade(rng, (150, 146, 128)))  # grey-beige sky
    draw.rectangle((0, horizon, s, s), fill=_shade(rng, (104, 76, 44)))  # mud
    for x in range(rng.randint(0, s // 8), s, max(6, s // 7)):  # fence posts
        draw.rectangle((x, horizon - s * 0.12, x + max(2, s // 40), horizon + s * 0.05), fill=_shade(rng, (70, 52, 36)))
    for _ in range(rng.randint(3, 6)):  # puddles
        _blob(draw, s * rng.random(), s * rng.uniform(0.6, 0.95), s * rng.uniform(0.08, 0.18),
              s * rng.uniform(0.03, 0.06), _shade(rng, (74, 58, 38)))
    for _ in range(rng.randint(1, 3)):  # muddy pigs
        cx, cy, r = s * rng.uniform(0.2, 0.8), s * rng.uniform(0.6, 0.85), s * rng.uniform(0.08, 0.12)
        _blob(draw, cx, cy, r * 1.4, r, _shade(rng, (138, 110, 90)))
        _blob(draw, cx + r * 1.3, cy - r * 0.3, r * 0.35, r * 0.3, _shade(rng, (120, 92, 76)))


def _swamp(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    horizon = s * rng.uniform(0.4, 0.55)
    draw.rectangle((0, 0, s, horizon), fill=_shade(rng, (112, 118, 104)))  # fog
    draw.rectangle((0, horizon, s, s), fill=_shade(rng, (62, 78, 46)))  # swamp water
    for _ in range(rng.randint(2, 4)):  # dead trees
        x = s * rng.uniform(0.05, 0.95)
        w = max(2, s // 30)
        draw.rectangle((x, horizon - s * rng.uniform(0.2, 0.35), x + w, horizon + s * 0.05), fill=(56, 44, 32))
        draw.line((x, horizon - s * 0.2, x - s * 0.1, horizon - s * 0.3), fill=(56, 44, 32), width=w // 2 + 1)
    for _ in range(rng.randint(5, 10)):  # scum and sludge
        _blob(draw, s * rng.random(), s * rng.uniform(0.6, 1.0), s * rng.uniform(0.04, 0.1),
              s * rng.uniform(0.02, 0.04), _shade(rng, (88, 96, 52)))


def _garden(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    horizon = s * rng.uniform(0.5, 0.65)
    draw.rectangle((0, 0, s, horizon), fill=_shade(rng, (90, 175, 250)))  # bright sky
    _blob(draw, s * rng.uniform(0.15, 0.85), s * 0.18, s * 0.1, s * 0.1, _shade(rng, (255, 225, 60)))
    draw.rectangle((0, horizon, s, s), fill=_shade(rng, (120, 215, 90)))  # lawn
    for _ in range(rng.randint(8, 16)):  # flowers
        cx, cy, r = s * rng.random(), s * rng.uniform(0.55, 0.95), s * rng.uniform(0.03, 0.06)
        _blob(draw, cx, cy, r, r, _shade(rng, rng.choice([(255, 110, 180), (255, 220, 60), (250, 80, 120)])))
        _blob(draw, cx, cy, r * 0.4, r * 0.4, (255, 245, 150))


def _trophy(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    draw.rectangle((0, 0, s, s), fill=_shade(rng, (245, 130, 200)))  # pink stage
    _blob(draw, s / 2, s * 0.45, s * 0.42, s * 0.42, _shade(rng, (255, 190, 230)))  # spotlight
    cx, w = s * rng.uniform(0.4, 0.6), s * rng.uniform(0.14, 0.2)
    gold = _shade(rng, (250, 200, 40))
    draw.pieslice((cx - w, s * 0.2, cx + w, s * 0.6), 0, 180, fill=gold)  # cup
    draw.rectangle((cx - w * 0.15, s * 0.4, cx + w * 0.15, s * 0.65), fill=gold)  # stem
    draw.rectangle((cx - w * 0.6, s * 0.65, cx + w * 0.6, s * 0.72), fill=_shade(rng, (230, 170, 30)))
    for _ in range(rng.randint(15, 30)):  # confetti
        x, y, d = s * rng.random(), s * rng.random(), max(2, s // 40)
        draw.rectangle((x, y, x + d, y + d), fill=rng.choice([(80, 170, 255), (255, 240, 80), (255, 255, 255)]))


def _beach(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    sea, sand = s * rng.uniform(0.4, 0.5), s * rng.uniform(0.6, 0.72)
    draw.rectangle((0, 0, s, sea), fill=_shade(rng, (110, 195, 255)))  # sky
    _blob(draw, s * rng.uniform(0.1, 0.9), s * 0.15, s * 0.09, s * 0.09, _shade(rng, (255, 235, 80)))
    draw.rectangle((0, sea, s, sand), fill=_shade(rng, (30, 130, 230)))  # sea
    draw.rectangle((0, sand, s, s), fill=_shade(rng, (250, 225, 140)))  # sand
    x = s * rng.uniform(0.2, 0.8)
    draw.line((x, sand - s * 0.1, x, s * 0.95), fill=(240, 240, 240), width=max(1, s // 64))
    draw.pieslice((x - s * 0.18, sand - s * 0.22, x + s * 0.18, sand + s * 0.02), 180, 360,
                  fill=_shade(rng, (255, 90, 160)))  # umbrella
    _blob(draw, s * rng.uniform(0.1, 0.9), s * rng.uniform(0.8, 0.9), s * 0.05, s * 0.05, _shade(rng, (255, 250, 90)))


def _feast(draw: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    table = s * rng.uniform(0.45, 0.55)
    draw.rectangle((0, 0, s, table), fill=_shade(rng, (255, 235, 140)))  # warm yellow wall
    draw.rectangle((0, table, s, s), fill=_shade(rng, (250, 150, 190)))  # pink tablecloth
    for _ in range(rng.randint(2, 4)):  # plates with fruit
        cx, cy, r = s * rng.uniform(0.15, 0.85), s * rng.uniform(0.65, 0.9), s * rng.uniform(0.08, 0.12)
        _blob(draw, cx, cy, r, r * 0.55, (250, 250, 250))
        _blob(draw, cx, cy, r * 0.5, r * 0.3, _shade(rng, rng.choice([(255, 90, 90), (255, 200, 40), (120, 200, 255)])))
    cx, w = s * rng.uniform(0.35, 0.65), s * rng.uniform(0.15, 0.22)  # layered cake
    draw.rectangle((cx - w, table - s * 0.18, cx + w, table + s * 0.04), fill=_shade(rng, (255, 180, 210)))
    draw.rectangle((cx - w, table - s * 0.2, cx + w, table - s * 0.14), fill=(255, 250, 250))
    for i in range(rng.randint(2, 5)):  # candles
        x = cx - w + (i + 1) * 2 * w / 6
        draw.rectangle((x, table - s * 0.28, x + max(1, s // 64), table - s * 0.2), fill=(90, 170, 255))


# name -> (valence, drawing function)
SCENES = {
    "trash_heap": ("degrading", _trash_heap), "sewer": ("degrading", _sewer),
    "mud_pit": ("degrading", _mud_pit), "swamp": ("degrading", _swamp),
    "garden": ("pleasant", _garden), "trophy": ("pleasant", _trophy),
    "beach": ("pleasant", _beach), "feast": ("pleasant", _feast),
}


# ----------------------------------------------------------------------------- captions


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font at a pixel size (cached: loading it is the slow part)."""
    return ImageFont.load_default(size=size)


def _wrap(words: list[str], font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy word wrap: as many words per line as fit in ``width`` pixels."""
    lines: list[str] = []
    for word in words:
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _draw_caption(img: Image.Image, text: str, rng: random.Random) -> None:
    """Overlay ``text`` as meme text: white, dark outline, wrapped, at the top and/or bottom."""
    size = img.size[0]
    font = _font(max(7, round(size * rng.uniform(0.08, 0.12))))  # varied size: glyphs are no fingerprint
    draw = ImageDraw.Draw(img)
    words = text.upper().split()
    if not words:
        return
    place = rng.choice(("top", "bottom", "split"))
    if place == "split" and len(words) >= 2:
        cut = max(1, min(len(words) - 1, len(words) // 2 + rng.randint(-1, 1)))
        top, bottom = words[:cut], words[cut:]
    elif place == "bottom":
        top, bottom = [], words
    else:
        top, bottom = words, []
    line_h = font.size + 1
    stroke = max(1, size // 64)
    for part, at_top in ((top, True), (bottom, False)):
        lines = _wrap(part, font, size * 0.94)
        y0 = rng.randint(1, 4) if at_top else size - rng.randint(2, 5) - line_h * len(lines)
        for i, line in enumerate(lines):
            x = (size - font.getlength(line)) / 2 + rng.uniform(-0.03, 0.03) * size
            draw.text((x, y0 + i * line_h), line, font=font, fill=(255, 255, 255),
                      stroke_width=stroke, stroke_fill=(15, 15, 15))


def render_meme(scene: str, scene_seed: int, text: str, image_size: int = 128) -> Image.Image:
    """Draw one meme: the ``scene`` picture (details from ``scene_seed``) with ``text`` on it.

    The same ``(scene, scene_seed)`` always gives the same pixels under the caption, so
    ``render_meme(scene, seed, "")`` is the bare picture. Where the caption goes (top, bottom or
    both) is drawn from the text and the seed together. Returns an RGB image.
    """
    _, draw_scene = SCENES[scene]
    img = Image.new("RGB", (image_size, image_size))
    draw_scene(ImageDraw.Draw(img), random.Random(f"{scene}:{scene_seed}"), image_size)
    _draw_caption(img, text, random.Random(f"{scene_seed}:{text}"))
    return img
