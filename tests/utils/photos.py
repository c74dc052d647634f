"""Photos as the tests send them: small JPEGs made with Pillow, each name its own picture (so
that a name always makes the same bytes, and so the same id), with EXIF when asked."""

from __future__ import annotations

import hashlib
import io

import httpx
from PIL import Image, ImageDraw


def jpeg(name: str, size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None) -> bytes:
    """A JPEG showing ``name``'s colours (deterministic), with ``exif`` if given."""
    digest = hashlib.sha256(name.encode()).digest()
    img = Image.new("RGB", size, tuple(digest[:3]))
    ImageDraw.Draw(img).rectangle((4, 4, size[0] // 2, size[1] // 2), fill=tuple(digest[3:6]))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def gps_exif(lon: float, lat: float) -> Image.Exif:
    """EXIF carrying a GPS position (what a phone's camera writes) and the camera's make."""
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"  # Make
    gps = {
        1: "N",
        2: (int(lat), int(lat * 60) % 60, 0.0),
        3: "E",
        4: (int(lon), int(lon * 60) % 60, 0.0),
    }
    exif[0x8825] = gps  # GPSInfo
    return exif


def send(c: httpx.Client, headers, data: bytes, **params) -> httpx.Response:
    return c.post(
        "/photos", content=data, headers={**headers, "Content-Type": "image/jpeg"}, params=params
    )


def photo_id(c: httpx.Client, headers, name: str) -> str:
    """The id of the photo ``name`` as ``headers``' caller sent it (sent now if need be)."""
    r = send(c, headers, jpeg(name))
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def with_photos(c: httpx.Client, headers, body: dict) -> dict:
    """``body`` with its ``photos`` names replaced by the ids of photos the caller sent."""
    if not body.get("photos"):
        return body
    return {**body, "photos": [photo_id(c, headers, n) for n in body["photos"]]}
