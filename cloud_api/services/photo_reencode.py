"""An uploaded photo, decoded and drawn anew: the only bytes of a photo the cloud keeps or serves.

Recognising an image by its first bytes lets through anything that starts like one: a PNG header
followed by a page of HTML, or a few hundred bytes of PNG declaring 50,000 × 50,000 pixels that
would take gigabytes to decode. So every photo is opened with Pillow, its declared size checked
against :data:`MAX_PIXELS` and :data:`MAX_DECLARED_SIDE` before a pixel is decoded, then decoded,
turned upright by its EXIF orientation, brought to sRGB, shrunk to :data:`MAX_SIDE` and saved
anew as a JPEG with no metadata at all: no EXIF (a phone's GPS position of a child's home), no
ICC profile, no XMP, no comment, and nothing after the image. What was uploaded is then dropped.

JPEG rather than WebP: every browser shows it, a parent's old phone (WebP needs iOS 14) and the
canteen's tablet alike; faces and food are what it was made for; and it keeps a canteen screen's
cache small. A transparent PNG is laid on white, the pages' background.

A refusal is a :class:`~cloud_api.core.errors.DomainError`: ``photo_type`` (no JPEG, PNG or WebP
header: an SVG, a GIF, a header followed by HTML), ``photo_too_many_pixels``, ``photo_unreadable``
(a sound header, then pixels damaged or cut short). Decoding is CPU work: call
:func:`reencode_photo` off the event loop.
"""

from __future__ import annotations

import hashlib
import io
from typing import NamedTuple

from PIL import Image, ImageCms, ImageOps

from cloud_api.core.errors import DomainError

__all__ = [
    "ACCEPTED_FORMATS",
    "CONTENT_TYPE",
    "CROPS",
    "MAX_DECLARED_SIDE",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Reencoded",
    "reencode_photo",
]

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")  # Pillow's other decoders (GIF, TIFF, PSD, …) are never tried
MAX_PIXELS = 25_000_000  # declared width × height: a 24-megapixel phone photo, with room to spare
MAX_DECLARED_SIDE = 10_000  # a panorama's long side; not a 25-megapixel line 1 pixel high
MAX_SIDE = 1600  # the longest side kept: sharp on a phone and on the canteen screen
CONTENT_TYPE = "image/jpeg"
_QUALITY = 85
_WHITE = (255, 255, 255)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class Reencoded(NamedTuple):
    """A photo as the cloud keeps and serves it: the re-encoded bytes and their type."""

    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes: the photo's name and URL."""
        return hashlib.sha256(self.data).hexdigest()


# A square cut from a photo, by where it sits (a dish photographed from the side, a plate off-centre).
CROPS = ("center", "top", "bottom", "left", "right")


def reencode_photo(data: bytes, crop: str | None = None) -> Reencoded:
    """Decode ``data`` within the pixel bound and encode it anew without metadata; ``DomainError`` if it can't be.

    ``crop`` (one of :data:`CROPS`) keeps the largest square at that place of the upright photo;
    None keeps it whole. Up to a second of CPU and 100 MB of memory (25 megapixels with alpha): the
    caller bounds how many run at once.
    """
    image = _open(data)
    try:
        pixels = _decoded(image)
        return Reencoded(CONTENT_TYPE, _encode(pixels if crop is None else _square(pixels, crop)))
    finally:
        image.close()


def _square(image: Image.Image, where: str) -> Image.Image:
    """The largest square of ``image`` at ``where`` (centre, top, bottom, left, right)."""
    width, height = image.size
    side = min(width, height)
    left = {"left": 0, "right": width - side}.get(where, (width - side) // 2)
    top = {"top": 0, "bottom": height - side}.get(where, (height - side) // 2)
    return image.crop((left, top, left + side, top + side))


def _open(data: bytes) -> Image.Image:
    # Image.open reads the header only: the size below is what the file declares, nothing decoded yet.
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError:  # Pillow's own bound (about 179 MP): far over ours
        raise DomainError("photo_too_many_pixels") from None
    except Exception:  # no header of the three (UnidentifiedImageError), or one that breaks off: never a 500
        raise DomainError("photo_type") from None
    width, height = image.size
    if width * height > MAX_PIXELS or max(width, height) > MAX_DECLARED_SIDE:
        image.close()
        raise DomainError("photo_too_many_pixels")
    if width < 1 or height < 1:
        image.close()
        raise DomainError("photo_unreadable")
    return image


def _decoded(image: Image.Image) -> Image.Image:
    """The pixels, upright, in sRGB, as RGB or L, at most :data:`MAX_SIDE` a side."""
    try:
        if image.format == "JPEG" or image.format == "MPO":
            image.draft(None, (MAX_SIDE, MAX_SIDE))  # libjpeg decodes at 1/2, 1/4 or 1/8 scale when it can
        image.load()  # a truncated or damaged file fails here (ImageFile.LOAD_TRUNCATED_IMAGES stays off)
        icc = image.info.get("icc_profile")
        upright = _upright(image)
        flat = _flattened(upright)
        flat.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # first: the colours below on fewer pixels
        return _in_srgb(flat, icc)
    except Exception:  # OSError, ValueError, struct.error, …: whatever a broken file makes a decoder say
        raise DomainError("photo_unreadable") from None


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block: the photo as it is stored
        return image


def _flattened(image: Image.Image) -> Image.Image:
    """RGB or L, transparency laid on white (JPEG has no alpha)."""
    if image.mode.startswith("I"):  # 16- or 32-bit grey (a 16-bit PNG): to 8 bits, not clipped at 255
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("RGB", "L"):
        return image
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "CMYK":
        return image  # converted with its ICC profile when it has one (``_in_srgb``)
    return image.convert("RGB")


def _in_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Colours of a wide-gamut (Display P3) or CMYK photo kept true once its profile is dropped."""
    if icc and image.mode in ("RGB", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except Exception:  # a profile lcms cannot use: the pixels as they are
            converted = None
        if converted is not None:
            return converted
    return image.convert("RGB") if image.mode == "CMYK" else image


def _encode(image: Image.Image) -> bytes:
    # A new image from the pixels alone: Pillow's JPEG writer would carry a comment over from
    # ``info``, and no EXIF, ICC profile or XMP is passed to it.
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    bare.save(out, "JPEG", quality=_QUALITY, optimize=True)
    return out.getvalue()
