"""What a sent photo must be, and what of it is kept.

The type is read from the bytes (Pillow identifies them; the name and the declared type are
not trusted): JPEG, PNG or WebP. A photo declaring more pixels than the bound is refused before
it is decoded. What is kept carries no metadata: a photo with EXIF (its GPS, the phone's
serial), XMP, comments or text chunks, or with a side longer than the bound, is turned upright,
scaled down and encoded again without them, as is one with bytes after its end (another file
appended, a motion-photo trailer); a clean photo within the bound (what the field app sends:
resized on the phone by a canvas, which writes none) is kept byte for byte, so the phone and
the server name it by the same hash.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from citybrain.errors import InvalidInput, TooLarge, UnsupportedMediaType

MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Metadata keys Pillow reports in ``info`` that a kept photo must not carry.
_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc")
# JPEG application segments a clean photo may have: JFIF (APP0) and its colour profile (APP2).
_CLEAN_JPEG_SEGMENTS = {("APP0", b"JFIF"), ("APP2", b"ICC_")}


@dataclass(frozen=True)
class Kept:
    """A photo as kept: its bytes, their SHA-256, type and size, and whether they are the
    bytes sent (``as_sent``) or encoded again."""

    data: bytes
    sha256: str
    media_type: str
    width: int
    height: int
    as_sent: bool


def _opened(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedMediaType(
            "a photo is a JPEG, PNG or WebP image; these bytes are none of them"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge("the photo declares more pixels than are taken") from None
    except Exception as e:  # noqa: BLE001 (a malformed file may fail in any of Pillow's parsers)
        raise InvalidInput(f"the photo cannot be read to its end: {e}") from None
    if img.format not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"a photo is a JPEG, PNG or WebP image; this is {img.format or 'unknown'}"
        )
    width, height = img.size
    if width * height > max_pixels:
        raise TooLarge(
            f"the photo declares {width}×{height} pixels; at most {max_pixels:,} are taken"
        )
    return img


def _load(img: Image.Image) -> None:
    try:
        img.load()
    except Exception as e:  # noqa: BLE001 (as above)
        raise InvalidInput(f"the photo cannot be read to its end: {e}") from None


def _ends_where_it_says(data: bytes, fmt: str) -> bool:
    """Whether the bytes end where the format's own structure ends: bytes after it (another
    file appended, a phone's motion-photo trailer) are not kept as they came."""
    if fmt == "JPEG":
        return data.endswith(b"\xff\xd9")
    if fmt == "PNG":
        return data.endswith(b"IEND\xaeB`\x82")
    riff = int.from_bytes(data[4:8], "little") + 8  # WebP: a RIFF file of its stated size
    return riff == len(data)


def _clean(img: Image.Image) -> bool:
    if any(key in img.info for key in _METADATA):
        return False
    if img.format == "PNG":
        return not getattr(img, "text", None)
    if img.format == "JPEG":
        return all((marker, body[:4]) in _CLEAN_JPEG_SEGMENTS for marker, body in img.applist)
    return True


def _encoded(img: Image.Image, fmt: str, max_side: int) -> bytes:
    upright = ImageOps.exif_transpose(img)  # the EXIF orientation, applied (it goes with EXIF)
    if max(upright.size) > max_side:
        upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        upright.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
    elif fmt == "PNG":
        upright.save(out, "PNG", optimize=True)
    else:
        upright.save(out, "WEBP", quality=88)
    return out.getvalue()


def keep(data: bytes, max_side: int, max_pixels: int) -> Kept:
    """What is kept of a sent photo (415: not an image of ours; 413: too many pixels; 400:
    truncated)."""
    img = _opened(data, max_pixels)
    fmt = img.format
    as_sent = _clean(img) and max(img.size) <= max_side and _ends_where_it_says(data, fmt)
    if not as_sent and fmt == "JPEG":
        img.draft("RGB", (max_side, max_side))  # decoded at a fraction of its size, if larger
    _load(img)
    if not as_sent:
        data = _encoded(img, fmt, max_side)
        img = Image.open(io.BytesIO(data))
    width, height = img.size
    return Kept(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=MEDIA_TYPES[fmt],
        width=width,
        height=height,
        as_sent=as_sent,
    )
