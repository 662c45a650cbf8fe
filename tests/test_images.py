"""Tests for memelib.images: every kind of image file becomes RGB, every bad file is refused.

All fixture images are drawn here with Pillow, in pytest's tmp_path; nothing is downloaded.
"""

from __future__ import annotations

import io
import pickle
import warnings

import pytest
from PIL import Image, ImageFile, features

from memelib.errors import ImageError
from memelib.images import MAX_PIXELS, open_image, to_rgb

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def save(image: Image.Image, path, fmt: str, **params) -> str:
    """Save ``image`` in ``fmt`` at ``path`` (whatever its extension) and return the path."""
    image.save(path, format=fmt, **params)
    return str(path)


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def close_to(pixel, expected, tolerance=8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected))


# ---------------------------------------------------------------- every mode becomes RGB

# (mode, file format able to store it); size (7, 5) so width and height cannot be confused
FILE_MODES = [
    ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"),
    ("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF"), ("CMYK", "TIFF"), ("CMYK", "JPEG"),
    ("RGB", "JPEG"), ("L", "JPEG"), ("RGB", "WEBP"), ("RGBA", "WEBP"), ("P", "GIF"),
    ("RGB", "BMP"), ("RGB", "TIFF"),
]


@pytest.mark.parametrize(("mode", "fmt"), FILE_MODES)
def test_every_file_mode_opens_as_rgb(tmp_path, mode, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WEBP")
    path = save(Image.new(mode, (7, 5)), tmp_path / f"x.{fmt.lower()}", fmt)
    image = open_image(path)
    assert image.mode == "RGB"
    assert image.size == (7, 5)


@pytest.mark.parametrize("mode", ["PA", "La", "RGBa", "YCbCr", "HSV", "LAB", "I;16B", "I;16L"])
def test_in_memory_modes_convert_to_rgb(mode):
    image = to_rgb(Image.new(mode, (7, 5)))
    assert (image.mode, image.size) == ("RGB", (7, 5))


def test_rgba_transparent_pixel_becomes_white(tmp_path):
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black
    image.putpixel((1, 0), (0, 0, 255, 128))  # half transparent blue
    rgb = open_image(save(image, tmp_path / "a.png", "PNG"))
    assert rgb.getpixel((0, 0)) == WHITE
    assert close_to(rgb.getpixel((1, 0)), (127, 127, 255), 2)
    assert rgb.getpixel((2, 2)) == RED


def test_la_transparent_pixel_becomes_white(tmp_path):
    image = Image.new("LA", (3, 3), (0, 255))
    image.putpixel((0, 0), (0, 0))
    rgb = open_image(save(image, tmp_path / "la.png", "PNG"))
    assert rgb.getpixel((0, 0)) == WHITE
    assert rgb.getpixel((1, 1)) == (0, 0, 0)


def test_palette_with_transparency_becomes_white(tmp_path):
    image = Image.new("P", (3, 3), 1)
    image.putpalette([0, 0, 0] + list(RED))  # index 0 black, index 1 red
    image.putpixel((0, 0), 0)
    path = save(image, tmp_path / "p.png", "PNG", transparency=0)
    with Image.open(path) as fixture:
        assert fixture.info.get("transparency") == 0  # the fixture really is transparent
    rgb = open_image(path)
    assert rgb.getpixel((0, 0)) == WHITE
    assert rgb.getpixel((1, 1)) == RED


def test_greyscale_with_transparent_colour_becomes_white(tmp_path):
    image = Image.new("L", (3, 3), 40)
    image.putpixel((0, 0), 7)
    rgb = open_image(save(image, tmp_path / "l.png", "PNG", transparency=7))
    assert rgb.getpixel((0, 0)) == WHITE
    assert rgb.getpixel((1, 1)) == (40, 40, 40)


@pytest.mark.parametrize("value", [0, 32768, 65535])
def test_16bit_grey_is_scaled_not_clipped(tmp_path, value):
    path = save(Image.new("I;16", (5, 5), value), tmp_path / "g16.png", "PNG")
    with Image.open(path) as fixture:
        assert fixture.mode.startswith("I")  # really stored with 16 bits
    grey = round(value / 257)
    assert close_to(open_image(path).getpixel((2, 2)), (grey, grey, grey), 1)


def test_32bit_int_with_16bit_values_is_scaled():
    image = Image.new("I", (3, 3), 32768)
    assert close_to(to_rgb(image).getpixel((0, 0)), (128, 128, 128), 1)


def test_32bit_int_with_8bit_values_is_kept():
    assert to_rgb(Image.new("I", (3, 3), 100)).getpixel((0, 0)) == (100, 100, 100)


def test_cmyk_colours_survive(tmp_path):
    image = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # no cyan, full magenta + yellow = red
    assert close_to(open_image(save(image, tmp_path / "c.tif", "TIFF")).getpixel((1, 1)), RED)


def test_one_bit_image(tmp_path):
    image = Image.new("1", (4, 4), 0)
    image.putpixel((0, 0), 1)
    rgb = open_image(save(image, tmp_path / "b.png", "PNG"))
    assert rgb.getpixel((0, 0)) == WHITE and rgb.getpixel((1, 1)) == (0, 0, 0)


def test_exif_orientation_6_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgb = open_image(save(image, tmp_path / "o.jpg", "JPEG", exif=exif.tobytes(), quality=95))
    assert rgb.size == (20, 40)
    assert close_to(rgb.getpixel((10, 5)), RED, 30)  # the left edge is now the top
    assert close_to(rgb.getpixel((10, 35)), BLUE, 30)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(tmp_path, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WEBP")
    frames = [Image.new("RGB", (8, 6), colour) for colour in (RED, GREEN, BLUE)]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   **({"lossless": True} if fmt == "WEBP" else {}))
    with Image.open(path) as fixture:
        assert fixture.n_frames == 3
    rgb = open_image(path)
    assert rgb.size == (8, 6)
    assert close_to(rgb.getpixel((4, 3)), RED)


def test_to_rgb_rewinds_an_animation_and_returns_a_new_image(tmp_path):
    frames = [Image.new("RGB", (8, 6), colour) for colour in (RED, GREEN, BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(path) as image:
        image.seek(2)
        rgb = to_rgb(image)
    assert close_to(rgb.getpixel((0, 0)), RED)
    plain = Image.new("RGB", (2, 2), GREEN)
    assert to_rgb(plain) is not plain


@pytest.mark.parametrize(("fmt", "name"), [
    ("JPEG", "really_jpeg.png"), ("WEBP", "really_webp.png"), ("GIF", "really_gif.png"),
    ("PNG", "really_png.jpg"), ("BMP", "no_extension"),
])
def test_format_comes_from_content_not_extension(tmp_path, fmt, name):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WEBP")
    image = open_image(save(Image.new("RGB", (9, 4), GREEN), tmp_path / name, fmt))
    assert image.size == (9, 4)
    assert close_to(image.getpixel((4, 2)), GREEN, 12)


def test_file_objects_and_path_objects_work(tmp_path):
    data = encoded(Image.new("RGB", (3, 2), RED), "PNG")
    assert open_image(io.BytesIO(data)).size == (3, 2)
    (tmp_path / "r.png").write_bytes(data)
    assert open_image(tmp_path / "r.png").getpixel((0, 0)) == RED


def test_file_object_left_at_its_end_still_opens():
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), RED).save(buffer, format="PNG")  # leaves the position at the end
    assert open_image(buffer).size == (3, 2)


def test_rgb_with_transparent_colour_becomes_white(tmp_path):
    image = Image.new("RGB", (3, 3), GREEN)
    image.putpixel((0, 0), (1, 2, 3))
    rgb = open_image(save(image, tmp_path / "t.png", "PNG", transparency=(1, 2, 3)))
    assert rgb.getpixel((0, 0)) == WHITE and rgb.getpixel((1, 1)) == GREEN


def test_result_is_loaded_and_independent_of_the_file(tmp_path):
    path = tmp_path / "r.png"
    path.write_bytes(encoded(Image.new("RGB", (3, 2), RED), "PNG"))
    image = open_image(path)
    path.unlink()  # the pixels must already be in memory
    assert image.getpixel((2, 1)) == RED


# ---------------------------------------------------------------- refusals


def refused(path, **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        open_image(path, **kwargs)
    assert str(path) in str(info.value)  # the message names the file
    assert info.value.path == str(path)
    assert str(info.value) == f"{info.value.path}: {info.value.reason}"
    return info.value


def test_missing_file(tmp_path):
    assert "not found" in refused(tmp_path / "nope.png").reason


def test_folder_is_not_an_image(tmp_path):
    assert "not a file" in refused(tmp_path).reason


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in refused(tmp_path / "empty.png").reason


def test_zero_byte_file_object():
    with pytest.raises(ImageError, match="empty"):
        open_image(io.BytesIO(b""))


def test_text_file_named_png(tmp_path):
    (tmp_path / "note.png").write_text("this is not a picture\n")
    assert "not an image" in refused(tmp_path / "note.png").reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_truncated_file(tmp_path, fmt, fraction):
    photo = Image.linear_gradient("L").resize((120, 90)).convert("RGB")
    data = encoded(photo, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * fraction)])
    error = refused(path)
    assert "truncated" in error.reason or "corrupt" in error.reason
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # the global setting is left alone


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = save(Image.new("L", (100, 100)), tmp_path / "bomb.png", "PNG")
    error = refused(tmp_path / "bomb.png", max_pixels=9_999)
    assert "too large" in error.reason and "100x100" in error.reason
    assert open_image(path, max_pixels=10_000).size == (100, 100)  # the limit itself is allowed


def test_image_error_is_a_value_error_and_pickles():
    error = ImageError("a/b.png", "broken")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == ("a/b.png", "broken", "a/b.png: broken")


def test_pillow_global_settings_are_untouched(tmp_path):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    open_image(save(Image.new("RGB", (2, 2)), tmp_path / "x.png", "PNG"))
    with pytest.raises(ImageError):
        open_image(save(Image.new("RGB", (2, 2)), tmp_path / "y.png", "PNG"), max_pixels=1)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == before
    assert MAX_PIXELS == 89_478_485
