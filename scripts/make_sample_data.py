"""Make the shipped sample data: procedural photos of metal parts for visual inspection, in two domains.

Every picture is drawn from scratch with numpy (no external image, so the data set is licence-clean) and
encoded with Pillow. Each image has its own generator, seeded by ``(seed, domain, class, index)``, so one
class can be regenerated alone and gives the same bytes as a full run (same numpy/Pillow versions).

* ``lab``  -- training conditions: even, mostly diffuse light from the upper left, centred camera, neutral
  white balance, clean light-grey background plate.
* ``line`` -- shop floor: warm and uneven light from another side, glare spots, vignetting; another camera
  (slight blur, sensor noise, small rotation / perspective / scale); dark conveyor belt and fixture at the
  edges, dust.

Usage::

    python scripts/make_sample_data.py [--out sample_data] [--per-class 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # genmix_core, when run as a script
sys.path.insert(0, str(Path(__file__).resolve().parent))        # sample_textures, when imported by a test
import sample_textures as tx  # noqa: E402
from genmix_core.fileio import atomic_write_bytes, atomic_write_text  # noqa: E402

CLASSES = ("ok", "scratch", "dent", "stain", "crack")
CLASS_NAMES_JA = {"ok": "良品", "scratch": "キズ", "dent": "打痕", "stain": "汚れ", "crack": "割れ"}
DOMAINS = ("lab", "line")
# (height, width): mostly square, some portrait / landscape so consumers meet non-square images.
SIZES = ((160, 160), (160, 160), (160, 160), (160, 192), (192, 160))
MANIFEST_FIELDS = ("file", "domain", "label", "index", "height", "width", "light_azimuth_deg", "light_elev_deg",
                   "rotation_deg", "scale", "gain", "wb_r", "wb_b", "blur_sigma", "noise_sigma", "glare_spots")


# ---------------------------------------------------------------- conditions per domain
def _conditions(rng, domain: str) -> dict:
    """Draw the light, pose and camera of one shot; ``lab`` varies little, ``line`` a lot."""
    if domain == "lab":
        return dict(light_azimuth_deg=225 + rng.uniform(-10, 10), light_elev_deg=rng.uniform(50, 58), kd=0.55,
                    rotation_deg=0.0, scale=rng.uniform(0.85, 0.88), shift=rng.uniform(-1.5, 1.5, 2),
                    persp=np.zeros(2), wb_r=1 + rng.normal(0, 0.01), wb_b=1 + rng.normal(0, 0.01),
                    gain=rng.uniform(0.97, 1.03), blur_sigma=0.5, noise_sigma=0.0, glare_spots=0)
    wb_r = rng.uniform(1.06, 1.2)   # warm lamps: more red, and blue down by more so it reads orange, not pink
    return dict(light_azimuth_deg=rng.uniform(-60, 150), light_elev_deg=rng.uniform(25, 40), kd=0.8,
                rotation_deg=rng.uniform(-7, 7), scale=rng.uniform(0.8, 0.95), shift=rng.uniform(-6, 6, 2),
                persp=rng.uniform(-6e-4, 6e-4, 2), wb_r=wb_r, wb_b=1 - 1.4 * (wb_r - 1) + rng.normal(0, 0.02),
                gain=rng.uniform(0.8, 1.0), blur_sigma=rng.uniform(0.7, 1.2), noise_sigma=rng.uniform(0.012, 0.02),
                glare_spots=int(rng.integers(0, 3)))


# ---------------------------------------------------------------- one image, step by step
def _part(rng, c: dict, label: str, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The coupon in its own frame: shaded RGB (H, W, 3) with its defect and glare, and its alpha (H, W)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    alb, hgt = tx.brushed_metal(rng, h, w), 0.1 * tx.blur(rng.normal(size=(h, w)), 1.0)
    clean = alb.sum(2) + hgt
    if tx.DEFECTS[label] is not None:   # defect centre in the inner half, so no pose moves it out of frame
        tx.DEFECTS[label](rng, yy, xx, alb, hgt, np.array([0.25 * h, 0.25 * w, 0.75 * h, 0.75 * w]))
    part = tx.shade(alb, hgt, c)
    # specular glare of the shop lamps; a spot never lands on the defect, which must stay visible
    dy, dx = np.nonzero(np.abs(alb.sum(2) + hgt - clean) > 0.03)
    spots = 0
    for _ in range(4 * c["glare_spots"]):
        if spots == c["glare_spots"]:
            break
        gy, gx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        s, level = rng.uniform(3, 7), rng.uniform(0.5, 0.9)
        if dy.size and np.min(((dy - gy) / s) ** 2 + ((dx - gx) / (2.2 * s)) ** 2) < 9:
            continue
        spots += 1
        part += level * np.exp(-(((yy - gy) / s) ** 2 + ((xx - gx) / (s * 2.2)) ** 2) / 2)[..., None]
    c["glare_spots"] = spots
    # outline: rounded rectangle (signed distance), its bevel brighter on the side facing the light
    m, rc = 4.0, 10.0
    qy, qx = np.abs(yy - (h - 1) / 2) - ((h - 1) / 2 - m - rc), np.abs(xx - (w - 1) / 2) - ((w - 1) / 2 - m - rc)
    sdf = np.hypot(np.maximum(qy, 0), np.maximum(qx, 0)) + np.minimum(np.maximum(qy, qx), 0) - rc
    az = np.radians(c["light_azimuth_deg"])
    facing = -(np.sign(yy - h / 2) * np.sin(az) + np.sign(xx - w / 2) * np.cos(az)) / 2
    part *= (1 + 0.25 * facing * np.clip(1 + sdf / 2.5, 0, 1))[..., None]
    return part, np.clip(0.5 - sdf, 0, 1)


def _place_part(part, alpha, c: dict) -> tuple[np.ndarray, np.ndarray]:
    """Pose the coupon in the canvas: premultiplied RGB (H, W, 3) and alpha (H, W, 1).

    Each canvas pixel is mapped back into the coupon frame (inverse rotation + scale + shift, with a small
    projective term for a camera that is not quite square to the belt) and read bilinearly.
    """
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    th = np.radians(c["rotation_deg"])
    cy, cx = yy - (h - 1) / 2 - c["shift"][0], xx - (w - 1) / 2 - c["shift"][1]
    den = c["scale"] * (1 + c["persp"][0] * cx + c["persp"][1] * cy)
    sy = (np.cos(th) * cy - np.sin(th) * cx) / den + (h - 1) / 2
    sx = (np.sin(th) * cy + np.cos(th) * cx) / den + (w - 1) / 2
    rgba = tx.sample(np.dstack([part * alpha[..., None], alpha]), sy, sx)
    return rgba[..., :3], np.clip(rgba[..., 3:], 0, 1)


def _shop_floor(rng, img: np.ndarray) -> np.ndarray:
    """Line only: uneven lamp light (ramp + blotches), vignetting, dust specks."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (yy / h - 0.5) * np.sin(ang) + (xx / w - 0.5) * np.cos(ang)
    r2 = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    img = img * ((1 + rng.uniform(0.3, 0.5) * ramp + 0.06 * tx.smooth_noise(rng, h, w, 3))
                 * (1 - rng.uniform(0.3, 0.45) * r2))[..., None]
    for _ in range(rng.integers(15, 40)):   # stamped in a small window: a full-frame Gaussian each is slow
        py, px, r, grey = rng.uniform(3, h - 3), rng.uniform(3, w - 3), rng.uniform(0.4, 0.9), rng.uniform(.55, .8)
        win = np.s_[int(py) - 3:int(py) + 4, int(px) - 3:int(px) + 4]
        speck = np.exp(-((yy[win] - py) ** 2 + (xx[win] - px) ** 2) / (2 * r * r))[..., None]
        img[win] = img[win] * (1 - speck) + speck * grey * np.array([1.0, 0.95, 0.85])
    return img


def render(domain: str, label: str, index: int, seed: int = 0) -> tuple[Image.Image, dict]:
    """Draw one sample image.

    Args:
        domain: ``"lab"`` or ``"line"``.
        label: one of ``CLASSES``.
        index: image number within (domain, label); part of the per-image seed.
        seed: data-set seed.

    Returns:
        (RGB PIL image, 160 or 192 px per side; the recorded parameters of its manifest row).
    """
    rng = np.random.default_rng([seed, DOMAINS.index(domain), CLASSES.index(label), index])
    h, w = SIZES[rng.integers(len(SIZES))]
    c = _conditions(rng, domain)
    # 1. the part, posed in the frame
    rgb, a = _place_part(*_part(rng, c, label, h, w), c)
    # 2. background with the part's soft shadow (sharper and darker under the line's low lamps)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    off, soft, depth = (2.0, 3.0, 0.15) if domain == "lab" else (4.0, 1.5, 0.5)
    shadow = tx.blur(tx.sample(a[..., 0], yy - off, xx - off), soft)
    img = tx.background(rng, domain, h, w) * (1 - depth * shadow)[..., None] * (1 - a) + rgb
    if domain == "line":
        img = _shop_floor(rng, img)
    # 3. camera: gain and white balance, sensor noise (luminance + a little chroma), optics blur, 8 bits.
    # Noise goes in before the blur: demosaicing and in-camera denoising leave soft grain, not pixel noise.
    img = img * c["gain"] * np.array([c["wb_r"], 1.0, c["wb_b"]])
    img += c["noise_sigma"] * (rng.normal(size=(h, w, 1)) + 0.3 * rng.normal(size=(h, w, 3)))
    img = tx.blur(img, c["blur_sigma"])
    pixels = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    params = {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)
              for k, v in c.items() if k in MANIFEST_FIELDS}
    return Image.fromarray(pixels, "RGB"), dict(params, height=h, width=w)


def png_bytes(image: Image.Image) -> bytes:
    """Encode as an optimised PNG without metadata (stable bytes for a given Pillow/zlib)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def generate(out: str | Path = "sample_data", per_class: int = 30, seed: int = 0,
             domains: tuple[str, ...] = DOMAINS, classes: tuple[str, ...] = CLASSES) -> list[dict]:
    """Write ``out/<domain>/<class>/<domain>_<class>_<NNN>.png`` and return the manifest rows written.

    ``out/manifest.csv`` is written only for a full run (all domains and classes), so regenerating a part
    never leaves a partial manifest behind.
    """
    out = Path(out)
    rows = []
    for domain in domains:
        for label in classes:
            for i in range(per_class):
                image, params = render(domain, label, i, seed)
                name = f"{domain}/{label}/{domain}_{label}_{i:03d}.png"
                atomic_write_bytes(out / name, png_bytes(image))
                rows.append(dict(params, file=name, domain=domain, label=label, index=i))
    if tuple(domains) == DOMAINS and tuple(classes) == CLASSES:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / "manifest.csv", buf.getvalue())
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="sample_data", help="output folder (default: sample_data)")
    ap.add_argument("--per-class", type=int, default=30, help="images per class and domain (default: 30)")
    ap.add_argument("--seed", type=int, default=0, help="data-set seed (default: 0)")
    args = ap.parse_args(argv)
    if args.per_class < 1:
        ap.error(f"--per-class must be at least 1, got {args.per_class}")
    t0 = time.perf_counter()
    rows = generate(args.out, args.per_class, args.seed)
    print(f"wrote {len(rows)} images to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
