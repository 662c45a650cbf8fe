"""A messy Hateful-Memes-style folder, made by the tests themselves: every kind of odd image and broken
annotation line that real meme collections hold (see tests/test_messy.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from memelib.synthetic import render_meme

# (file name, how it is saved, whether it is usable)
ODD_IMAGES = [
    ("jpeg_named.png", "JPEG bytes named .png", True),
    ("webp_named.png", "WEBP bytes named .png", True),
    ("gif_named.png", "GIF bytes named .png", True),
    ("png_named.jpg", "PNG bytes named .jpg", True),
    ("photo.jfif", "JPEG with a .jfif extension", True),
    ("upper.PNG", "upper-case extension", True),
    ("rgba.png", "RGBA with transparency", True),
    ("palette.png", "P with a transparent colour", True),
    ("grey.png", "L greyscale", True),
    ("deep.png", "I;16 16-bit greyscale", True),
    ("cmyk.jpg", "CMYK JPEG", True),
    ("rotated.jpg", "EXIF orientation 6", True),
    ("animated.gif", "animated GIF", True),
    ("small.png", "88 px", True),
    ("large.png", "2200 px", True),
    ("empty.png", "zero bytes", False),
    ("truncated.jpg", "truncated JPEG", False),
]


def _save_odd(name: str, folder: Path, seed: int) -> None:
    base = render_meme("garden" if seed % 2 else "trash_heap", seed, f"odd meme {seed}", 128)
    path = folder / name
    if name == "jpeg_named.png" or name == "photo.jfif":
        base.save(path, format="JPEG")
    elif name == "webp_named.png":
        base.save(path, format="WEBP")
    elif name == "gif_named.png":
        base.convert("P").save(path, format="GIF")
    elif name in ("png_named.jpg", "upper.PNG"):
        base.save(path, format="PNG")
    elif name == "rgba.png":
        rgba = base.convert("RGBA")
        rgba.putpixel((0, 0), (0, 0, 0, 0))
        rgba.save(path)
    elif name == "palette.png":
        base.convert("P").save(path, transparency=0)
    elif name == "grey.png":
        base.convert("L").save(path)
    elif name == "deep.png":
        Image.eval(base.convert("L"), lambda v: v).convert("I").point(lambda v: v * 257).convert("I;16").save(path)
    elif name == "cmyk.jpg":
        base.convert("CMYK").save(path, format="JPEG")
    elif name == "rotated.jpg":
        exif = Image.Exif()
        exif[0x0112] = 6
        base.save(path, format="JPEG", exif=exif)
    elif name == "animated.gif":
        frames = [base.convert("P"), base.rotate(90).convert("P")]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    elif name == "small.png":
        base.resize((88, 88)).save(path)
    elif name == "large.png":
        base.resize((2200, 2200)).save(path, compress_level=1)
    elif name == "empty.png":
        path.write_bytes(b"")
    elif name == "truncated.jpg":
        buf = io.BytesIO()
        base.save(buf, format="JPEG")
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def make_messy_folder(root: Path, good_train: list[dict], good_dev: list[dict], src: Path) -> dict[str, int]:
    """Copy the good rows' images from `src`, add odd images and broken lines. Returns the number of
    usable and unusable rows of train.jsonl."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    for r in good_train + good_dev:
        (root / r["img"]).write_bytes((src / r["img"]).read_bytes())
    lines, usable, unusable = [], 0, 0
    for r in good_train:
        lines.append(json.dumps(r))
        usable += 1
    for i, (name, _, ok) in enumerate(ODD_IMAGES):
        _save_odd(name, root / "img", i)
        lines.append(json.dumps({"id": 50000 + i, "img": f"img/{name}", "text": f"odd image {i}", "label": i % 2}))
        usable, unusable = usable + ok, unusable + (not ok)
    broken = [
        '{"id": 60001, "img": "img/x.png", "text": "they said "hello" to me", "label": 0}',  # unescaped quotes
        '{"id": 60002, "img": "img/jpeg_named.png", "txt": "typo in a key", "label": 0}',  # typo: missing text
        '{"id": 60003, "img": "img/a.png", "text": "a", "label": 0}{"id": 60004, "img": "img/b.png", "text": "b", "label": 1}',
        '{"id": 60005, "img": "img/does_not_exist.png", "text": "image missing", "label": 1}',
        '{"id": 60006, "img": "/etc/passwd", "text": "absolute path", "label": 0}',
        '{"id": 60007, "img": "../../secret.png", "text": "escapes the folder", "label": 0}',
        '{"id": 60008, "img": "img/grey.png", "text": "label is two", "label": 2}',
        json.dumps(good_train[0]),  # duplicate id
    ]
    lines += broken
    unusable += len(broken)
    lines.append(json.dumps({"id": 60009, "img": "img/grey.png", "text": "", "label": 0}))  # empty caption: usable
    lines.append(json.dumps({"id": 60010, "img": "img/small.png", "text": "🙂🙂🙂", "label": 1}))  # emoji only: usable
    lines.append("")  # a blank line is accepted
    usable += 2
    body = "\r\n".join(lines).encode("utf-8")
    body += b'\r\n{"id": 60011, "img": "img/small.png", "text": "caf\xe9 latin-1", "label": 0}\r\n'  # not UTF-8
    unusable += 1
    (root / "train.jsonl").write_bytes(b"\xef\xbb\xbf" + body)  # with a byte-order mark and CRLF line ends
    (root / "dev.jsonl").write_text("\n".join(json.dumps(r) for r in good_dev) + "\n")
    return {"usable": usable, "unusable": unusable}
