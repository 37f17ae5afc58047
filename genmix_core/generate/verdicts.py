"""Whether an item is used (trained on, exported), and why not: the filter's verdict, overridden by the review.

Per item, in this order:

1. not finished → ``pending``; failed → ``black_or_flat`` (the edit was black, flat or NaN with both seeds) or
   ``failed`` (any other failure, e.g. an unreadable original);
2. the user's decision in ``review.json`` wins over everything the filter says: accepted (reason ``""``) or
   ``rejected_by_user``;
3. filter off for the run (``--no-filter``) → accepted;
4. the filter's verdict in ``quality.json``, if it was made from this very edit: accepted, or its reason
   (``low_similarity``, ``class_outlier``, ``black_or_flat``);
5. otherwise ``not_checked`` (the filter has not scored it yet: the run is still going, was cancelled, or its
   edit file could not be read), which is not used until a run scores it.

The reason keys are catalog keys ``gen.reason.<reason>`` (English and Japanese). ``quality.json`` is written by
:mod:`genmix_core.generate.filtering`; this module only reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genmix_core.fileio import read_json
from genmix_core.quality.rules import BLACK_OR_FLAT, CLASS_OUTLIER, LOW_SIMILARITY

QUALITY_FILE = "quality.json"
#: ``error_key`` of an item whose edit was black, flat or NaN with both seeds (records of older versions carry
#: only the English text, recognised by :data:`_BAD_EDIT_PREFIX`).
BAD_EDIT_KEY = "err.gen.bad_edit"
_BAD_EDIT_PREFIX = "The edit was black or flat"

PENDING, FAILED, NOT_CHECKED, REJECTED_BY_USER = "pending", "failed", "not_checked", "rejected_by_user"
#: Every reason an item can have in ``manifest.csv`` (``""`` = accepted).
REASONS = (BLACK_OR_FLAT, LOW_SIMILARITY, CLASS_OUTLIER, REJECTED_BY_USER, NOT_CHECKED, FAILED, PENDING)


def read_quality(out_dir: str | os.PathLike) -> dict[str, Any]:
    """``quality.json`` of a run folder, or ``{}`` when the filter has not run there (or the file is unreadable)."""
    data = read_json(Path(out_dir) / QUALITY_FILE, default={})
    return data if isinstance(data, dict) and isinstance(data.get("items"), dict) else {}


def filter_enabled(out_dir: str | os.PathLike) -> bool:
    """Whether the run's ``config.json`` has the quality filter on (runs of older versions: on)."""
    from genmix_core.generate.config import GenerateConfig
    from genmix_core.jobconfig import read_stored_args

    return not bool((read_stored_args(out_dir, GenerateConfig) or {}).get("no_filter", False))


def verdict(record: dict[str, Any] | None, review: bool | None, scored: dict[str, Any] | None,
            filter_on: bool) -> tuple[bool, str, float | None]:
    """``(accepted, reason, similarity)`` of one item (see the module docstring for the order).

    Args:
        record: the item's current completion record (None: not finished).
        review: the user's decision, or None.
        scored: the item's entry of ``quality.json`` ``items`` (``similarity``, ``reason``, ``edit``), or None.
        filter_on: the run's filter setting.
    """
    status = (record or {}).get("status", PENDING)
    if status != "done":
        bad = (record or {}).get("error_key") == BAD_EDIT_KEY or \
            str((record or {}).get("error", "")).startswith(_BAD_EDIT_PREFIX)
        return False, (BLACK_OR_FLAT if bad else FAILED) if status == "failed" else PENDING, None
    current = scored is not None and scored.get("edit") == Path(str(record.get("edit_path") or "")).stem
    similarity = scored.get("similarity") if current else None
    if review is not None:
        return bool(review), "" if review else REJECTED_BY_USER, similarity
    if not filter_on:
        return True, "", similarity
    if not current:
        return False, NOT_CHECKED, None
    reason = str(scored.get("reason") or "")
    return not reason, reason, similarity
