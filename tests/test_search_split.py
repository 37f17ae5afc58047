"""Honest selection: the on-site photos split once into a selection part and a report part, stratified by class and
grouped by photo; the fallback to held-out training photos when they are too few; the split taken over by
content in a replay."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmix_core.errors import UserError
from genmix_core.search import fallback_reason, split_onsite
from genmix_core.search.split import split_from_record
from genmix_core.train.data import scan_images


def photos(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label, n in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / label / f"{label}_{i}.png")
    return root


def _parts(split):
    return {part: set(df["rel"]) for part, df in (("selection", split.selection), ("report", split.report))}


def test_each_class_is_split_and_no_photo_serves_both_purposes(tmp_path):
    df = scan_images(photos(tmp_path / "onsite", {"ok": 10, "dent": 7, "scratch": 4}))
    split = split_onsite(df, fraction=0.5, seed=3, min_per_class=4)
    parts = _parts(split)
    assert split.mode == "onsite" and not split.weaker_evidence
    assert parts["selection"].isdisjoint(parts["report"]) and parts["selection"] | parts["report"] == set(df["rel"])
    assert split.counts() == {"selection": {"dent": 4, "ok": 5, "scratch": 2},
                              "report": {"dent": 3, "ok": 5, "scratch": 2}}
    record = split.to_dict()
    assert {p["part"] for p in record["photos"]} == {"selection", "report"} and len(record["photos"]) == 21
    # The same photos and seed give the same parts; another seed draws others.
    assert _parts(split_onsite(df, fraction=0.5, seed=3, min_per_class=4)) == parts
    assert _parts(split_onsite(df, fraction=0.5, seed=4, min_per_class=4)) != parts


def test_copies_of_one_photo_stay_together_and_training_photos_are_left_out(tmp_path):
    root = photos(tmp_path / "onsite", {"ok": 6, "dent": 6})
    for i in range(3):                          # three copies of ok_0, one filed under the wrong class
        shutil.copy(root / "ok" / "ok_0.png", root / ("dent" if i == 2 else "ok") / f"copy_{i}.png")
    df = scan_images(root)
    train_hash = df.loc[df["rel"] == "dent/dent_5.png", "hash"].iloc[0]
    for seed in range(8):
        split = split_onsite(df, fraction=0.5, seed=seed, min_per_class=4, training_hashes={train_hash})
        parts = _parts(split)
        copies = {"ok/ok_0.png", "ok/copy_0.png", "ok/copy_1.png", "dent/copy_2.png"}
        assert copies <= parts["selection"] or copies <= parts["report"]
        assert "dent/dent_5.png" not in parts["selection"] | parts["report"]
        assert split.to_dict()["excluded_training_duplicates"] == ["dent/dent_5.png"]


@pytest.mark.parametrize("counts, reason", [({"ok": 6, "dent": 3}, "too_few"), ({"ok": 9}, "too_few"),
                                            (None, "no_onsite")])
def test_too_few_on_site_photos_fall_back_to_the_training_domain(tmp_path, counts, reason):
    df = scan_images(photos(tmp_path / "onsite", counts)) if counts else None
    assert fallback_reason(df, 4) == reason
    split = split_onsite(df, fraction=0.5, seed=0, min_per_class=4)
    assert (split.mode, split.reason, split.weaker_evidence, split.selection) == ("training_domain", reason, True, None)
    assert (split.report is None) == (counts is None)          # the on-site photos, all of them, only for the report
    if counts:
        assert set(split.report["rel"]) == set(df["rel"])


def test_a_replay_takes_the_recorded_parts_by_content_and_refuses_unknown_photos(tmp_path):
    root = photos(tmp_path / "onsite", {"ok": 6, "dent": 6})
    split = split_onsite(scan_images(root), fraction=0.5, seed=1, min_per_class=4)
    record = split.to_dict()
    moved = tmp_path / "moved"                 # the same photos under other names and (wrong) classes
    shutil.copytree(root, moved)
    for p in sorted((moved / "ok").glob("*.png"))[:3]:
        p.rename(moved / "dent" / f"renamed_{p.name}")
    again = split_from_record(scan_images(moved), record, "old/search.json")
    by_hash = {p["hash"]: p["part"] for p in record["photos"]}
    for part, df in (("selection", again.selection), ("report", again.report)):
        assert {by_hash[h] for h in df["hash"]} == {part}
    assert len(again.selection) + len(again.report) == 12 and again.from_file == "old/search.json"
    photos(moved / "extra", {"ok": 1}, seed=9)
    shutil.move(str(moved / "extra" / "ok" / "ok_0.png"), moved / "ok" / "new.png")
    with pytest.raises(UserError, match=r"1 on-site photo\(s\) were not part of the split recorded in old/search.json "
                                        r"\(first: ok/new.png\)") as info:
        split_from_record(scan_images(moved), record, "old/search.json")
    assert "再現には同じ写真が必要です" in info.value.message("ja")
