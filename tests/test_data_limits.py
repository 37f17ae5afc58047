"""Decoding work is bounded: per picture from its header, per import by a budget; the rest of the upload is kept.

Issue #12 item 8: a 252 KB float TIFF of 6300² pixels decoded to 159 MB and took 1.1 GB and seconds to import; a
zip of them kept the workbench busy for hours.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from genmix_core.data import colour, imageio, import_folder, import_uploads, open_project
from genmix_core.data.imageio import decode_image
from genmix_core.errors import UserError


def float_tiff_header(width: int, height: int, strip: bytes = b"\x00" * 64, bits: int = 32, fmt: int = 3) -> bytes:
    """A little-endian TIFF that *declares* a grey picture of width × height (float32 by default: ``bits`` 32,
    sample format ``fmt`` 3; 8-bit unsigned is ``bits=8, fmt=1``), followed by ``strip``.

    The strip is far too short, so decoding it would fail as damaged; only a check made from the header
    before decoding can give ``err.image.decode_too_big``.
    """
    tags = [(256, 4, width), (257, 4, height), (258, 3, bits), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip)), (339, 3, fmt)]
    ifd_size = 2 + 12 * len(tags) + 4
    data_at = 8 + ifd_size
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags)))
    for tag, typ, value in tags:
        value = data_at if tag == 273 else value
        packed = struct.pack("<H", value) + b"\x00\x00" if typ == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, typ, 1) + packed
    return bytes(out + struct.pack("<I", 0) + strip)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_float_bomb_is_refused_from_its_header_before_decoding():
    data = float_tiff_header(6300, 6300)
    assert Image.open(io.BytesIO(data)).mode == "F"      # Pillow reads it as the 159 MB float picture it claims
    with pytest.raises(UserError) as exc:
        decode_image(data, "bomb.tif")
    err = exc.value
    assert err.key == "err.image.decode_too_big"
    assert err.params["size"] == "6300×6300" and err.params["bpp"] == 4 and err.params["need_mb"] == "159"
    assert "bomb.tif" in str(err) and "8-bit JPEG or PNG" in str(err)
    assert "bomb.tif" in err.message("ja") and "メモリ" in err.message("ja")
    # The same pixel count in 8-bit grey is a normal picture: its header passes, so the damaged strip shows.
    grey = float_tiff_header(6300, 6300, bits=8, fmt=1)
    assert Image.open(io.BytesIO(grey)).mode == "L"
    with pytest.raises(UserError) as small:
        decode_image(grey, "grey.tif")
    assert small.value.key in ("err.image.truncated", "err.image.corrupt")


def test_a_forty_megapixel_colour_photo_still_fits_the_per_picture_limit():
    assert imageio.bytes_per_pixel("RGB") * imageio.MAX_PIXELS <= imageio.MAX_DECODE_BYTES
    assert imageio.bytes_per_pixel("F") * 6300 * 6300 > imageio.MAX_DECODE_BYTES
    assert [imageio.bytes_per_pixel(m) for m in ("1", "L", "I;16B", "LA", "RGB", "RGBA", "F")] == [1, 1, 2, 2, 3, 4, 4]


def test_upload_of_bombs_keeps_the_good_files_and_refuses_each_bomb(tmp_path):
    project = open_project("bombs")
    bomb = float_tiff_header(6300, 6300)
    members = {f"ok/bomb{i}.tif": bomb for i in range(20)} | {"ok/good.png": png(np.full((32, 32, 3), 90, np.uint8))}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    report = import_uploads(project, [("bombs.zip", buf.getvalue()), ("ok/photo.png", png(np.zeros((20, 20, 3),
                                                                                                      np.uint8)))])
    assert sorted(report.added) == ["ok/good.png", "ok/photo.png"]
    assert {r.key for r in report.rejected} == {"err.image.decode_too_big"} and len(report.rejected) == 20
    assert report.stopped is None


def _flat_pngs(n: int, side: int) -> dict[str, bytes]:
    """Highly compressible pictures (one colour each): tiny files that decode to side² × 3 bytes."""
    return {f"ok/flat{i:02d}.png": png(np.full((side, side, 3), (i * 20, 50, 200), np.uint8)) for i in range(n)}


def test_import_budget_stops_at_the_file_that_would_exceed_it_and_keeps_the_rest(monkeypatch, tmp_path):
    side = 256
    per_picture = side * side * 3
    monkeypatch.setattr(imageio, "BUDGET_BASE_BYTES", 3 * per_picture + 1000)
    project = open_project("budget")
    files = _flat_pngs(6, side)
    folder = tmp_path / "upload"
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    for report in (import_uploads(project, sorted(files.items())), import_folder(open_project("b2"), folder)):
        assert report.added == ["ok/flat00.png", "ok/flat01.png", "ok/flat02.png"]
        stop = report.stopped
        assert stop is not None and stop.key == "err.data.budget_stopped"
        assert stop.name.endswith("flat03.png") and stop.params["left"] == 3
        for lang in ("en", "ja"):
            text = stop.message(lang)
            assert "flat03.png" in text and "3" in text and "{" not in text
        assert "JPEG" in stop.message("ja")


def test_pictures_that_decode_in_proportion_to_their_size_never_run_out(monkeypatch):
    # Same base budget as above, but noisy pictures (like photos) earn budget with their file size.
    side = 256
    monkeypatch.setattr(imageio, "BUDGET_BASE_BYTES", 3 * side * side * 3 + 1000)
    rng = np.random.default_rng(0)
    files = [(f"ok/photo{i:02d}.png", png(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))) for i in range(6)]
    report = import_uploads(open_project("photos"), files)
    assert len(report.added) == 6 and report.stopped is None


def test_banded_scaling_uses_the_whole_picture_range():
    # Taller than one band of rows, values outside 0..1 and a NaN: scaled with the global min and max.
    values = np.linspace(-5.0, 20.0, 8 * 700, dtype=np.float32).reshape(700, 8)
    values[3, 3] = np.nan
    out = np.asarray(colour.to_rgb(Image.fromarray(values, mode="F")))[..., 0]
    finite = np.nan_to_num(values.astype(np.float64))
    lo, hi = min(finite.min(), 0.0), max(finite.max(), 0.0)
    expected = np.clip(np.rint((finite - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
    assert out.shape == (700, 8) and (out == expected).all()
    assert out[0, 0] == 0 and out[-1, -1] == 255
