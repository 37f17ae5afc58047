"""One picture at a time: validation, colour normalisation, orientation and size limits (genmix_core.data.imageio)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFile

from genmix_core.data import colour, imageio
from genmix_core.data import load_image_bytes
from genmix_core.errors import UserError
from genmix_core.data.imageio import decode_image


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width × height`` (the pixel data is a few bytes: a bomb-like file)."""
    data = bytearray(encode(Image.new("L", (8, 8))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def key_of(data: bytes, name: str = "x.png") -> str:
    with pytest.raises(UserError) as info:
        decode_image(data, name)
    assert name in str(info.value) or not name
    return info.value.key


# --- orientation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation, corner", [(1, "top_left"), (3, "bottom_right"), (6, "top_right"),
                                                 (8, "bottom_left")])
def test_exif_orientation_is_applied(orientation, corner):
    # Stored landscape 60×30 with a red block at the stored top-left; the camera says how to turn it.
    im = Image.new("RGB", (60, 30), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 15, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = load_image_bytes(encode(im, "JPEG", quality=95, exif=exif), "cam.jpg")
    w, h = out.size
    assert (w, h) == ((60, 30) if orientation in (1, 3) else (30, 60))
    probes = {"top_left": (3, 3), "top_right": (w - 4, 3), "bottom_left": (3, h - 4), "bottom_right": (w - 4, h - 4)}
    for name, xy in probes.items():
        r, g, b = out.getpixel(xy)
        assert (r > 200 and b < 60) == (name == corner), (name, out.getpixel(xy))


# --- colour modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
@pytest.mark.parametrize("cmyk", [(255, 0, 0, 0), (0, 128, 255, 64), (0, 0, 0, 255)])
def test_cmyk_converted_with_standard_formula(fmt, cmyk):
    c, m, y, k = cmyk
    expected = [round((255 - v) * (255 - k) / 255) for v in (c, m, y)]
    out = load_image_bytes(encode(Image.new("CMYK", (16, 16), cmyk), fmt), f"print.{fmt.lower()}")
    assert out.mode == "RGB"
    tol = 4 if fmt == "JPEG" else 1
    assert np.abs(np.asarray(out)[8, 8].astype(int) - expected).max() <= tol


@pytest.mark.parametrize("mode, fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF")])
def test_16_bit_grey_is_scaled_not_clipped(mode, fmt):
    values = np.array([[0, 257, 1000, 32768, 40000, 65535]] * 8, dtype=np.uint16)
    values = np.repeat(values, 2, axis=1)  # 8×12
    raw = values.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    im = Image.frombytes(mode, (values.shape[1], values.shape[0]), raw)
    out = np.asarray(load_image_bytes(encode(im, fmt), "depth.tif"))
    expected = np.rint(values.astype(np.float64) * 255 / 65535)
    assert np.abs(out[..., 0] - expected).max() <= 1
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert out[0, 6, 0] < 200  # 32768 must land mid-grey; Pillow's convert("L") would clip it to 255


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint16, (8, 9)))
def test_property_16_bit_scaling(values):
    im = Image.frombytes("I;16", (9, 8), values.astype("<u2").tobytes())
    out = np.asarray(load_image_bytes(encode(im), "p.png"))[..., 0].astype(int)
    assert np.abs(out - values.astype(np.int64) * 255 / 65535).max() <= 0.5 + 1e-9


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, (9, 11)))
def test_property_grey_becomes_equal_rgb_channels(values):
    out = np.asarray(load_image_bytes(encode(Image.fromarray(values)), "g.png"))
    assert out.shape == (9, 11, 3)
    for ch in range(3):
        assert (out[..., ch] == values).all()


def test_int32_and_float_modes_are_stretched():
    arr = np.array([[-100, 0, 100, 200]] * 8, dtype=np.int32).repeat(2, axis=1)
    out = np.asarray(colour.to_rgb(Image.fromarray(arr, mode="I")))[..., 0]
    assert out[0, 0] == 0 and out[0, -1] == 255 and 0 < out[0, 4] < 255
    unit = np.array([[0.0, 0.5, 1.0]] * 8, dtype=np.float32).repeat(3, axis=1)
    out = np.asarray(colour.to_rgb(Image.fromarray(unit, mode="F")))[..., 0]
    assert list(out[0, ::3]) == [0, 128, 255]


def test_palette_transparency_composited_on_white():
    p = Image.new("P", (16, 16), 0)
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.paste(1, (8, 0, 16, 16))
    out = load_image_bytes(encode(p, "PNG", transparency=0), "pal.png")
    assert out.getpixel((2, 2)) == (255, 255, 255)  # transparent red index → white, never red
    assert out.getpixel((12, 2)) == (0, 255, 0)


@pytest.mark.parametrize("mode, colour, expected", [
    ("RGBA", (0, 0, 0, 0), (255, 255, 255)),
    ("RGBA", (0, 0, 0, 255), (0, 0, 0)),
    ("RGBA", (0, 0, 200, 128), (127, 127, 227)),
    ("LA", (0, 128), (127, 127, 127)),
])
def test_alpha_composited_on_white(mode, colour, expected):
    out = load_image_bytes(encode(Image.new(mode, (10, 10), colour)), "a.png")
    assert np.abs(np.array(out.getpixel((5, 5))) - expected).max() <= 1


def test_one_bit_and_grey():
    bw = Image.new("1", (10, 10), 0)
    bw.paste(1, (5, 0, 10, 10))
    out = load_image_bytes(encode(bw, "BMP"), "bw.bmp")
    assert out.getpixel((1, 1)) == (0, 0, 0) and out.getpixel((8, 1)) == (255, 255, 255)
    assert load_image_bytes(encode(Image.new("L", (10, 10), 77)), "g.png").getpixel((3, 3)) == (77, 77, 77)


def test_extension_is_never_trusted():
    png = encode(Image.new("RGB", (12, 12), (10, 20, 30)))
    assert load_image_bytes(png, "photo.jpg").getpixel((0, 0)) == (10, 20, 30)


def test_stored_image_carries_no_metadata():
    im = Image.new("RGB", (12, 12), (1, 2, 3))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    decoded = decode_image(encode(im, "PNG", exif=exif), "m.png")
    assert decoded.image.info == {} and decoded.image.mode == "RGB"


# --- sizes --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size, ok", [((1, 1), False), ((7, 50), False), ((8, 8), True)])
def test_minimum_side(size, ok):
    data = encode(Image.new("RGB", size))
    if ok:
        assert load_image_bytes(data).size == size
    else:
        assert key_of(data) == "err.image.too_small"


@pytest.mark.parametrize("width, height", [(7000, 7000), (30000, 30000), (100_000, 100_000)])
def test_decompression_bomb_is_never_decoded(monkeypatch, width, height):
    def no_decode(self, *a, **k):
        raise AssertionError("a bomb must be rejected before decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    data = png_with_size(width, height)
    assert len(data) < 200
    assert key_of(data, "bomb.png") == "err.image.too_large"


def test_huge_legal_image_is_downscaled_with_a_note():
    im = Image.new("RGB", (3000, 1200), (40, 50, 60))
    decoded = decode_image(encode(im, "JPEG", quality=70), "wide.jpg")
    assert max(decoded.image.size) == imageio.MAX_SIDE
    assert decoded.image.size == (2048, round(1200 * 2048 / 3000))
    assert decoded.original_size == (3000, 1200)
    assert [k for k, _ in decoded.notes] == ["data.warn.downscaled"]
    big = Image.new("RGB", (5000, 800), (200, 10, 10))  # > 2 × MAX_SIDE: decoded at reduced JPEG scale
    decoded = decode_image(encode(big, "JPEG"), "big.jpg")
    assert decoded.image.size[0] == imageio.MAX_SIDE
    assert np.abs(np.array(decoded.image.getpixel((100, 100))) - (200, 10, 10)).max() <= 6


def test_multi_frame_keeps_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buf.getvalue(), "anim.gif")
    assert decoded.image.getpixel((5, 5))[0] > 200
    assert ("data.warn.first_frame", {"frames": 2}) in decoded.notes


# --- broken or foreign files --------------------------------------------------------------------------------

def test_bad_inputs_have_their_own_keys():
    photo = encode(Image.effect_noise((64, 64), 40).convert("RGB"), "JPEG")
    png = encode(Image.effect_noise((64, 64), 40).convert("RGB"), "PNG")
    cases = {
        "err.image.empty": b"",
        "err.image.text_file": "これはテキストです。not a picture\n".encode("utf-8") * 20,
        "err.image.not_image": bytes(range(256)) * 4,
        "err.image.unsupported": encode(Image.new("RGB", (16, 16)), "ICO"),
        "err.image.truncated": photo[: len(photo) // 2],
        "err.image.corrupt": png[:8] + b"\x00" * 200,
    }
    for key, data in cases.items():
        assert key_of(data, "case.jpg") == key, key
    assert key_of(b"%PDF-1.7\n...", "scan.jpg") == "err.image.unsupported"
    assert key_of(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "iphone.jpg") == "err.image.unsupported"
    assert key_of(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "v.png") == \
        "err.image.unsupported"


def test_truncated_png_is_reported():
    png = encode(Image.effect_noise((128, 128), 60).convert("RGB"))
    assert key_of(png[: len(png) * 2 // 3], "half.png") in ("err.image.truncated", "err.image.corrupt")


def test_messages_name_the_file_in_both_languages():
    with pytest.raises(UserError) as info:
        decode_image(b"", "leer.png")
    assert "leer.png" in info.value.message("en") and "leer.png" in info.value.message("ja")
    assert info.value.message("en") != info.value.message("ja")
