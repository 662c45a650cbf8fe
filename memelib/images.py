"""Open any image file safely and turn it into an RGB Pillow image.

Memes come from the web, so their files are messy: a JPEG saved as ``.png``, a GIF that moves,
a PNG with a transparent background, a 16-bit scan, a photo stored sideways with an EXIF
"rotate me" tag, a download that stopped half way. :func:`open_image` deals with all of them and
either returns a fully decoded RGB image or raises :class:`ImageError` saying which file is wrong
and why. Notebook 00 (looking at the data) shows each case. :func:`blur_image` hides what a picture
shows, for galleries of real memes that a learner has not chosen to see yet.

Nothing here changes Pillow's global settings: other code in the same process keeps its own.
"""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .errors import ImageError

__all__ = ["MAX_PIXELS", "BLUR_FRACTION", "HIDDEN_CAPTION", "ImageError", "open_image", "to_rgb", "blur_image"]

# A "decompression bomb" is a tiny file that claims a huge size (say 50,000 x 50,000 pixels) and
# would take gigabytes of memory to decode. We refuse images with more pixels than this. The value
# is Pillow's own default (Image.MAX_IMAGE_PIXELS, about 1024 * 1024 * 1024 // 4 // 3), large
# enough for any real meme. Pillow's global limit still applies on top of ours.
MAX_PIXELS: int = 89_478_485

# How strongly `blur_image` blurs: the Gaussian's radius as a fraction of the image's longer side.
# At a tenth of the side, faces, symbols and words are shapeless smudges at any size; only the
# main colours are left.
BLUR_FRACTION: float = 0.1
# What a blurred meme shows instead of its caption (the words can be as hateful as the picture).
HIDDEN_CAPTION = "caption hidden"

# Modes whose pixels carry an alpha channel; they are composited on white before dropping alpha.
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# 16-bit greyscale modes (PNG and TIFF scans); their values run from 0 to 65535.
_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")

PathOrFile = str | os.PathLike | BinaryIO


def open_image(path_or_file: PathOrFile, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file by its content and return it as a fully loaded RGB image.

    ``path_or_file`` is a path or a binary file object. The format comes from the bytes, not
    the extension, so a JPEG named ``.png`` opens. Transparent pixels become white, animated
    files give their first frame, EXIF orientation is applied, 16-bit greyscale is scaled down
    to 8 bits. Raises :class:`ImageError` for a missing or empty file, a file that is not an
    image, a truncated or corrupt one, or one with more than ``max_pixels`` pixels.
    """
    name = _name_of(path_or_file)
    _check_not_empty(path_or_file, name)
    try:
        with warnings.catch_warnings():
            # Pillow only warns for sizes between its limit and twice its limit; make that an
            # error too. catch_warnings() puts the previous warning filters back on exit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path_or_file) as image:
                width, height = image.size
                if width * height > max_pixels:  # checked before any pixel is decoded
                    raise ImageError(
                        name,
                        f"image too large: {width}x{height} = {width * height:,} pixels, "
                        f"more than the limit of {max_pixels:,} (possible decompression bomb)",
                    )
                image.load()  # decode every byte now, so a truncated file fails here
                return to_rgb(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(name, "not an image file (Pillow does not recognise its content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(name, f"image too large (possible decompression bomb): {error}") from None
    except OSError as error:  # Pillow reports truncated data as OSError
        raise ImageError(name, f"truncated or corrupt image: {error}") from None
    except Exception as error:  # noqa: BLE001
        # Pillow's decoders raise many kinds of error on damaged data (SyntaxError, EOFError,
        # struct.error, ValueError...). For us they all mean the same: this file cannot be used.
        raise ImageError(name, f"corrupt image ({type(error).__name__}: {error})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Return a new RGB copy of an already open Pillow image (for example one a user uploads).

    Applies EXIF orientation, takes the first frame of an animation (this rewinds ``image``),
    puts transparent pixels on white and scales 16-bit or 32-bit greyscale to 8 bits. Raises
    :class:`ImageError` when Pillow has no conversion for the image's mode.
    """
    if getattr(image, "is_animated", False) and image.tell() != 0:
        image.seek(0)
    image = _apply_exif_orientation(image)
    if image.mode in _16BIT_MODES or image.mode in ("I", "F"):
        image = _to_8bit_grey(image)  # a transparent colour on such rare images is dropped
    try:
        if image.mode == "La":  # premultiplied alpha (Pillow-internal); only "LA" converts on
            image = image.convert("LA")
        if image.mode in _ALPHA_MODES or _has_transparency(image):
            rgba = image.convert("RGBA")  # 4 bands: red, green, blue, alpha (0 = transparent)
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        # "1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV" and "RGB" itself: Pillow converts directly.
        # convert() always returns a new image, so the caller's image is never shared.
        return image.convert("RGB")
    except ValueError as error:  # "conversion from X to Y not supported"
        raise ImageError(_name_of(image), f"cannot convert mode {image.mode!r} to RGB: {error}") from None


def blur_image(image: Image.Image, fraction: float = BLUR_FRACTION) -> Image.Image:
    """A strongly blurred copy of ``image`` (same size and mode): what it shows cannot be made out.

    The Gaussian's radius is ``fraction`` of the longer side, so a thumbnail and a full-size
    picture are blurred alike. Galleries and widgets use it for real memes, which can be hateful.
    """
    radius = max(2.0, fraction * max(image.size))
    return image.filter(ImageFilter.GaussianBlur(radius))


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    """Turn a photo stored sideways upright, following its EXIF orientation tag."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001
        # A damaged EXIF block should not make an otherwise good picture unusable.
        return image


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """Scale a 16-bit ("I;16"), 32-bit ("I") or float ("F") greyscale image to mode "L".

    Pillow's own conversion clips every value above 255 to white, so a 16-bit mid-grey (32768)
    would come out white; we divide instead. For "I" and "F", whose range the mode does not tell,
    values that already fit 0..255 are kept, values up to 65535 are read as 16-bit, and anything
    else is stretched from its minimum to its maximum.
    """
    if image.mode in _16BIT_MODES:
        image = image.convert("I")  # lossless: same values, in a mode point() can scale
        low, high = 0, 65535
    else:
        low, high = image.getextrema()
        if image.mode == "F" and 0 <= low and high <= 1:
            low, high = 0, 1  # floats in 0..1, the usual convention
        elif 0 <= low and high <= 255:
            low, high = 0, 255
        elif 0 <= low and high <= 65535:
            low, high = 0, 65535
    scale = 255 / (high - low) if high > low else 0.0
    # point() with a linear function maps every pixel v to v * scale + offset (+0.5 rounds).
    grey = image.point(lambda value: value * scale + (0.5 - low * scale)).convert("L")
    grey.info.pop("transparency", None)  # a 16-bit transparent value means nothing in 8 bits
    return grey


def _has_transparency(image: Image.Image) -> bool:
    """Whether an image without an alpha band still marks some pixels transparent."""
    if "transparency" in image.info:  # a transparent colour (L, RGB) or palette entry (P)
        return True
    palette = image.palette if image.mode == "P" else None
    return palette is not None and palette.mode == "RGBA"  # a palette with its own alpha


def _name_of(path_or_file: PathOrFile | Image.Image) -> str:
    """A name for messages: the path, or the file object's name, or a stand-in."""
    if isinstance(path_or_file, (str, os.PathLike)):
        return os.fspath(path_or_file)
    name = getattr(path_or_file, "name", None) or getattr(path_or_file, "filename", None)
    return str(name) if name else f"<{type(path_or_file).__name__}>"


def _check_not_empty(path_or_file: PathOrFile, name: str) -> None:
    """Refuse a missing path, a folder, or an empty file with a clear message."""
    if isinstance(path_or_file, (str, os.PathLike)):
        if not os.path.exists(path_or_file):
            raise ImageError(name, "file not found")
        if not os.path.isfile(path_or_file):
            raise ImageError(name, "not a file")
        size = os.path.getsize(path_or_file)
    else:
        try:
            start = path_or_file.tell()
            size = path_or_file.seek(0, os.SEEK_END)  # Pillow reads from the start, so measure all
            path_or_file.seek(start)
        except (AttributeError, OSError, ValueError):
            return  # not seekable: Pillow will read it and complain if it is empty
    if size == 0:
        raise ImageError(name, "empty file (0 bytes)")
