"""The shipped sample data: layout, determinism of its generator, and a real-but-solvable domain gap."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "sample_data"
DOMAINS = ("lab", "line")
CLASSES = ("ok", "scratch", "dent", "stain", "crack")
CLASSES_JA = ("良品", "キズ", "打痕", "汚れ", "割れ")


def _script():
    spec = importlib.util.spec_from_file_location("make_sample_data", REPO / "scripts" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(domain: str, label: str) -> list[Path]:
    return sorted((DATA / domain / label).glob("*.png"))


def _manifest() -> list[dict[str, str]]:
    with open(DATA / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_layout_two_domains_five_classes_of_rgb_pngs():
    assert sorted(p.name for p in DATA.iterdir() if p.is_dir()) == sorted(DOMAINS)
    shapes = set()
    for domain in DOMAINS:
        assert sorted(p.name for p in (DATA / domain).iterdir()) == sorted(CLASSES)
        for label in CLASSES:
            files = _files(domain, label)
            assert len(files) >= 24, f"{domain}/{label} has only {len(files)} images"
            for path in files:
                with Image.open(path) as im:
                    assert im.format == "PNG" and im.mode == "RGB", path
                    assert 128 <= im.width <= 256 and 128 <= im.height <= 256, (path, im.size)
                    shapes.add(im.size)
    assert any(w != h for w, h in shapes), "some images should be non-square"
    assert sum(p.stat().st_size for p in DATA.rglob("*")) < 8 * 2 ** 20, "sample data should stay under 8 MB"


def test_manifest_lists_every_image_with_its_size():
    rows = _manifest()
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*.png")}
    assert {r["file"] for r in rows} == on_disk
    for row in rows[::17]:
        with Image.open(DATA / row["file"]) as im:
            assert im.size == (int(row["width"]), int(row["height"]))
        assert row["file"].startswith(f"{row['domain']}/{row['label']}/")


def test_readme_names_classes_in_both_languages_and_the_licence():
    text = (DATA / "README.md").read_text(encoding="utf-8")
    for en, ja in zip(CLASSES, CLASSES_JA):
        assert f"`{en}`" in text and ja in text
    assert "Apache-2.0" in text and "python scripts/make_sample_data.py" in text


def test_regenerating_one_class_gives_the_committed_bytes(tmp_path):
    script = _script()
    committed = _files("line", "crack")
    rows = script.generate(tmp_path, per_class=len(committed), seed=0, domains=("line",), classes=("crack",))
    regenerated = sorted((tmp_path / "line" / "crack").glob("*.png"))
    assert [p.name for p in regenerated] == [p.name for p in committed]
    for new, old in zip(regenerated, committed):
        assert np.array_equal(np.asarray(Image.open(new)), np.asarray(Image.open(old))), f"pixels differ: {old.name}"
        assert new.read_bytes() == old.read_bytes(), (
            f"{old.name}: same pixels, other PNG bytes (Pillow/zlib changed?): rerun scripts/make_sample_data.py")
    assert not (tmp_path / "manifest.csv").exists(), "a partial run must not write a partial manifest"
    recorded = {r["file"]: r for r in _manifest()}
    for row in rows:
        assert {k: str(v) for k, v in row.items()} == {k: recorded[row["file"]][k] for k in row}


def test_seed_and_index_change_the_picture():
    script = _script()
    base = np.asarray(script.render("lab", "dent", 0, seed=0)[0], np.int16)
    for other in (script.render("lab", "dent", 0, seed=1)[0], script.render("lab", "dent", 1, seed=0)[0]):
        other = np.asarray(other, np.int16)
        assert other.shape != base.shape or np.abs(other - base).mean() > 1


def test_cli_rejects_an_empty_data_set(capsys):
    with pytest.raises(SystemExit) as exc:
        _script().main(["--per-class", "0", "--out", "unused"])
    assert exc.value.code == 2 and "--per-class must be at least 1, got 0" in capsys.readouterr().err


def _stats(path: Path) -> np.ndarray:
    """Colour and edge statistics of the centre half, where the defect lies: a fast stand-in for a CNN."""
    a = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
    h, w, _ = a.shape
    c = a[h // 4:3 * h // 4, w // 4:3 * w // 4]
    grey = c.mean(2)
    gy, gx = np.gradient(grey)
    red_blue = c[..., 0] - c[..., 2]
    return np.concatenate([c.reshape(-1, 3).mean(0), c.reshape(-1, 3).std(0),
                           np.percentile(grey, [1, 5, 50, 95, 99]), np.percentile(np.hypot(gy, gx), [50, 90, 99, 99.9]),
                           [red_blue.max(), red_blue.std()]])


def _split(domain: str, n_train: int = 20):
    """(train X, train y, test X, test y): the first ``n_train`` images of each class train, the rest test."""
    parts = {True: ([], []), False: ([], [])}
    for k, label in enumerate(CLASSES):
        for i, path in enumerate(_files(domain, label)):
            xs, ys = parts[i < n_train]
            xs.append(_stats(path))
            ys.append(k)
    return (np.array(parts[True][0]), np.array(parts[True][1]), np.array(parts[False][0]), np.array(parts[False][1]))


def _fit(x, y):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x, y)


def test_domain_gap_is_real_and_line_stays_solvable():
    lab_x, lab_y, lab_tx, lab_ty = _split("lab")
    line_x, line_y, line_tx, line_ty = _split("line")
    clf = _fit(lab_x, lab_y)
    lab_acc = clf.score(lab_tx, lab_ty)
    line_acc = clf.score(np.concatenate([line_x, line_tx]), np.concatenate([line_y, line_ty]))
    line_to_line = _fit(line_x, line_y).score(line_tx, line_ty)
    assert lab_acc >= 0.7, f"lab classes should be separable in lab, got {lab_acc:.2f}"
    assert line_acc <= lab_acc - 0.25, f"no domain gap: lab {lab_acc:.2f}, line {line_acc:.2f}"
    assert line_to_line >= 0.6, f"line defects should stay learnable within line, got {line_to_line:.2f}"
