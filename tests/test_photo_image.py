"""What a sent photo must be and what is kept of it (``citybrain.photos.image``), as properties
over generated input: any bytes are kept or refused with a 4xx error, never anything else;
whatever is kept carries no metadata, fits the bound, and is named by its SHA-256; a clean
photo within the bound is kept byte for byte. Checked with Pillow and hashlib."""

from __future__ import annotations

import hashlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from citybrain.errors import InvalidInput, TooLarge, UnsupportedMediaType
from citybrain.photos.image import keep
from citybrain.photos.store import FileStore
from tests.utils.photos import gps_exif, jpeg

REFUSALS = (InvalidInput, TooLarge, UnsupportedMediaType)
SEEDS = [jpeg("seed", size=(40, 30)), jpeg("seed-exif", size=(40, 30), exif=gps_exif(120.9, 30.8))]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_any_bytes_are_kept_or_refused(data: bytes) -> None:
    try:
        kept = keep(data, max_side=1600, max_pixels=25_000_000)
    except REFUSALS:
        return
    assert hashlib.sha256(kept.data).hexdigest() == kept.sha256


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
    st.integers(0, 2000),
)
def test_damaged_photos_are_kept_whole_or_refused(seed: bytes, flips, cut: int) -> None:
    """A real photo with bytes changed and its end cut off: never a 500, never a kept photo
    with its EXIF."""
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    data = bytes(data[: max(2, len(data) - cut)])
    try:
        kept = keep(data, max_side=1600, max_pixels=25_000_000)
    except REFUSALS:
        return
    img = Image.open(io.BytesIO(kept.data))
    assert not img.getexif() and "exif" not in img.info
    assert max(img.size) <= 1600


@settings(max_examples=40, deadline=None)
@given(
    st.integers(8, 2600),
    st.integers(8, 2600),
    st.booleans(),
    st.sampled_from(["JPEG", "PNG", "WEBP"]),
)
def test_what_is_kept_has_no_metadata_and_fits(w: int, h: int, exif: bool, fmt: str) -> None:
    img = Image.new("RGB", (w, h), (w % 256, h % 256, 90))
    out = io.BytesIO()
    extra = {"exif": gps_exif(120.9, 30.8)} if exif else {}
    img.save(out, fmt, **extra)
    sent = out.getvalue()
    kept = keep(sent, max_side=1600, max_pixels=25_000_000)
    back = Image.open(io.BytesIO(kept.data))
    assert back.format == fmt and (kept.width, kept.height) == back.size
    assert not back.getexif() and "exif" not in back.info
    scale = min(1, 1600 / max(w, h))
    assert abs(back.size[0] - w * scale) <= 1 and abs(back.size[1] - h * scale) <= 1
    clean_and_small = not exif and max(w, h) <= 1600
    assert kept.as_sent == clean_and_small
    assert (kept.data == sent) == clean_and_small
    assert kept.sha256 == hashlib.sha256(kept.data).hexdigest()


def test_the_file_store_keeps_by_hash(tmp_path) -> None:
    store = FileStore(tmp_path)
    data = jpeg("stored")
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    store.put(sha, data)  # again: nothing happens
    assert store.get(sha) == data and store.get("0" * 64) is None
    path = store.path(sha)
    assert path == tmp_path / sha[:2] / sha[2:4] / sha
    assert [p.name for p in path.parent.iterdir()] == [sha]  # no temporary file left
    for bad in ("../../etc/passwd", "A" * 64, sha[:-1]):
        try:
            store.path(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was taken as a photo's name")


def test_bytes_after_the_end_or_text_chunks_are_not_kept() -> None:
    clean = jpeg("tail", size=(300, 200))
    kept = keep(clean + b"#!/bin/sh\n" * 50, max_side=1600, max_pixels=25_000_000)
    assert not kept.as_sent and kept.data.endswith(b"\xff\xd9")
    assert b"#!/bin/sh" not in kept.data
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "张三 13800001111")
    Image.new("RGB", (50, 40), (1, 2, 3)).save(out, "PNG", pnginfo=info)
    kept = keep(out.getvalue(), max_side=1600, max_pixels=25_000_000)
    assert not kept.as_sent and b"13800001111" not in kept.data
    assert not Image.open(io.BytesIO(kept.data)).text
