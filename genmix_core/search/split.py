"""Honest selection: the on-site photos are split once into a selection part and a report part.

Recipes are compared on the selection part only; the report part is loaded and scored once, at the end, for
the chosen recipe and the baseline (:mod:`genmix_core.search.run`). The split is

* **stratified by class**: each class gives ``round(n · fraction)`` of its photos to the selection part (at
  least one, and at least one left for the report part);
* **grouped by original photo**: identical files (the same content hash, under any name or class folder) fall
  into the same part, so one photo cannot serve both purposes;
* **drawn once**, from the search's split seed, and recorded photo by photo (name, class, content hash, part),
  so a replay (:attr:`SearchConfig.split_from`) takes the very same parts, matched by content.

On-site photos that are also training photos (the same bytes) are left out of both parts and listed.

With too few on-site photos to split (a class with fewer than ``min_per_class``, fewer than two classes, or
none at all) the search selects on a held-out part of the *training* photos instead, drawn per seed and never
trained on, and says so: ``mode = "training_domain"``, ``weaker_evidence = True`` (a part of the lab photos
says less about the shop floor). The on-site photos then all form the report part (or, without any, the
held-out training originals do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genmix_core.errors import UserError
from genmix_core.fileio import read_json

PARTS = ("selection", "report")
MODES = ("onsite", "training_domain")


@dataclass
class OnsiteSplit:
    """The parts of the on-site photos (``[path, rel, label, hash]`` frames; None when not used).

    Attributes:
        mode: ``"onsite"`` (selection part of the on-site photos) or ``"training_domain"`` (fallback).
        reason: why the fallback was taken (``"too_few"``, ``"no_onsite"``), else None.
        excluded: on-site photos left out because they are training photos too (``rel`` names).
    """

    mode: str
    selection: pd.DataFrame | None
    report: pd.DataFrame | None
    reason: str | None = None
    fraction: float = 0.5
    seed: int = 0
    min_per_class: int = 4
    excluded: tuple[str, ...] = ()
    from_file: str | None = None

    @property
    def weaker_evidence(self) -> bool:
        return self.mode != "onsite"

    def counts(self) -> dict[str, dict[str, int]]:
        """Photos per class in each part: ``{"selection": {class: n}, "report": {class: n}}``."""
        return {part: ({} if df is None else {str(k): int(v) for k, v in df["label"].value_counts().sort_index().items()})
                for part, df in (("selection", self.selection), ("report", self.report))}

    def to_dict(self) -> dict:
        """The split as ``search.json`` keeps it: which photo served which purpose."""
        photos = []
        for part, df in (("selection", self.selection), ("report", self.report)):
            if df is not None:
                photos += [{"rel": r.rel, "label": r.label, "hash": r.hash, "part": part}
                           for r in df.itertuples(index=False)]
        return {"mode": self.mode, "weaker_evidence": self.weaker_evidence, "reason": self.reason,
                "fraction": self.fraction, "seed": self.seed, "min_per_class": self.min_per_class,
                "grouped_by": "content_hash", "counts": self.counts(), "photos": photos,
                "excluded_training_duplicates": list(self.excluded), "from": self.from_file}


def fallback_reason(df: pd.DataFrame | None, min_per_class: int) -> str | None:
    """Why the on-site photos (a frame with a ``label`` column) cannot be split: ``"no_onsite"``, ``"too_few"``
    (a class with fewer than ``min_per_class``, or fewer than two classes), else None."""
    if df is None or df.empty:
        return "no_onsite"
    counts = df["label"].value_counts()
    if len(counts) < 2 or int(counts.min()) < int(min_per_class):
        return "too_few"
    return None


def _selection_count(n_groups: int, fraction: float) -> int:
    return min(max(1, int(round(n_groups * fraction))), n_groups - 1)


def split_onsite(onsite: pd.DataFrame | None, *, fraction: float, seed: int, min_per_class: int,
                 training_hashes: set[str] = frozenset()) -> OnsiteSplit:
    """Split the on-site photos (``scan_images`` rows) into selection and report parts, or take the fallback.

    Args:
        onsite: the on-site photos, or None when there are none.
        fraction: share of each class's photo groups in the selection part.
        seed: the draw's seed (the same photos and seed give the same parts).
        training_hashes: content hashes of the training photos (such on-site photos are left out).
    """
    excluded: tuple[str, ...] = ()
    if onsite is not None and not onsite.empty:
        dup = onsite["hash"].isin(training_hashes)
        excluded = tuple(onsite.loc[dup, "rel"])
        onsite = onsite[~dup].reset_index(drop=True)
    common = dict(fraction=float(fraction), seed=int(seed), min_per_class=int(min_per_class), excluded=excluded)
    reason = fallback_reason(onsite, min_per_class)
    if reason is not None:
        report = onsite if onsite is not None and not onsite.empty else None
        return OnsiteSplit("training_domain", None, report, reason=reason, **common)
    # One group per content hash; its class is the class of its first photo (sorted by class, then name).
    groups = onsite.groupby("hash", sort=True)["label"].first()
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for label in sorted(groups.unique()):
        hashes = sorted(groups.index[groups == label])
        if len(hashes) < 2:       # identical files only: nothing to split in this class
            continue
        order = rng.permutation(len(hashes))[:_selection_count(len(hashes), fraction)]
        chosen.update(hashes[i] for i in order)
    in_sel = onsite["hash"].isin(chosen)
    return OnsiteSplit("onsite", onsite[in_sel].reset_index(drop=True), onsite[~in_sel].reset_index(drop=True),
                       **common)


def split_from_record(onsite: pd.DataFrame | None, record: dict, source: str,
                      training_hashes: set[str] = frozenset()) -> OnsiteSplit:
    """The split an earlier search recorded (``search.json`` ``split``), applied to today's photos by content.

    Labels come from today's folders: only which photo serves which purpose is taken over.

    Raises:
        UserError: ``err.search.split_mismatch`` when a photo of today's folder was not in that split.
    """
    part_of = {p["hash"]: p["part"] for p in record.get("photos", [])}
    common = dict(fraction=float(record.get("fraction", 0.5)), seed=int(record.get("seed", 0)),
                  min_per_class=int(record.get("min_per_class", 4)), from_file=source)
    if onsite is not None and not onsite.empty:
        dup = onsite["hash"].isin(training_hashes)
        common["excluded"] = tuple(onsite.loc[dup, "rel"])
        onsite = onsite[~dup].reset_index(drop=True)
    unknown = [] if onsite is None else [r for r, h in zip(onsite["rel"], onsite["hash"]) if h not in part_of]
    if unknown:
        raise UserError("err.search.split_mismatch", path=source, n=len(unknown), first=unknown[0])
    if record.get("mode") != "onsite":
        return OnsiteSplit("training_domain", None, onsite if onsite is not None and not onsite.empty else None,
                           reason=record.get("reason"), **common)
    parts = onsite["hash"].map(part_of)
    return OnsiteSplit("onsite", onsite[parts == "selection"].reset_index(drop=True),
                       onsite[parts == "report"].reset_index(drop=True), **common)


def read_split_record(path: str | Path) -> tuple[dict, str]:
    """``(split record, file)`` of an earlier search (its folder or its ``search.json``).

    Raises:
        UserError: ``err.search.no_split_from`` when there is none.
    """
    from genmix_core.search.results import SEARCH_FILE

    p = Path(path)
    file = p / SEARCH_FILE if p.is_dir() else p
    data = read_json(file, default=None)
    if not isinstance(data, dict) or not isinstance(data.get("split"), dict):
        raise UserError("err.search.no_split_from", path=str(file))
    return data["split"], str(file)
