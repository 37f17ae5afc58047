"""The record of a generation run: what was planned, what is done, what the user accepted, and the export.

A generation run folder (``<out>``) holds::

    config.json         all arguments of the run (a rerun must match them to resume)
    plan.json           every planned (image, prompt) item with its seed and output path
    items.jsonl         append-only completion log: one JSON line per finished item (done or failed)
    items.rank<r>.jsonl the same, of rank r > 0 of a run of several processes (genmix_core.generate.ranks)
    superseded.json     items redone because their photo was replaced: {item_id: [old record summaries]}
    skipped.csv         files of the data folder the run left out, with the reason (genmix_core.generate.sources)
    review.json         the user's accept/reject decisions, {item_id: true|false} (win over the filter)
    quality.json        the quality filter's scores and verdicts (genmix_core.generate.filtering); features/
    manifest.csv        plan + completion log + filter + review as one table (pandas-readable)
    prompt_stats.csv    per prompt: items, accepted, acceptance rate, similarity, diversity (prompt_stats.py)
    images/<class>/<image-stem>__<prompt-slug>.png    the GenMix images, ready for training
    job.json, log.txt   progress and log of the worker (genmix_core.jobs)

A run with ``no_mixes`` (Train & Compare's generation step when it mixes anew at training time) stores the edits
only: its records keep each item's mix parameters with an empty ``mix.path``, ``manifest.csv`` an empty
``mix_path``; such an item is done while its edit is in the cache, and a later run without the switch mixes it
from there (:func:`genmix_core.generate.batch.mix_stored_edit` makes one picture the same way).

Resume design (append-only JSONL with a tolerant reader, as chosen for issue 3): a line is appended, flushed
and fsynced only after the item's files exist (each written atomically), so a line in ``items.jsonl`` proves the
files are whole. A SIGKILL can at worst cut the last line; the reader skips any line that does not parse, and
the writer first ends an unterminated last line so the cut line never swallows the next record. The last line
of an item wins. An item without a line (or whose image went missing) is simply done again; its seed makes
the redo identical. Each process of a multi-process run appends to its own log; readers merge them all (the
latest record of an item wins, by its finish time ``t``), so any number of processes resumes any folder.

A record counts for its item only while the photo is the same: records carry the photo's content hash
(``image_hash``), and an item whose photo was replaced since (same file name, other bytes; item ids keep the
name only) is done again with its new seed. :func:`supersede` notes the old record in ``superseded.json``
(so records of older versions, which lack the hash, are recognised too), deletes the stale GenMix image and
the review of it; ``manifest.csv`` then names the old photo hash in its ``superseded`` column.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from genmix_core.errors import UserError
from genmix_core.fileio import (INCOMPLETE_SUFFIX, atomic_write_json, atomic_write_text, io_error, read_json,
                                temp_prefix)
from genmix_core.generate.prompt_stats import write_prompt_stats
from genmix_core.generate.verdicts import filter_enabled, read_quality, verdict
from genmix_core.paths import fit_name

CONFIG_FILE = "config.json"
PLAN_FILE = "plan.json"
RECORDS_FILE = "items.jsonl"
RANK_RECORDS = "items.rank{rank}.jsonl"
_RANK_LOG = re.compile(r"items\.rank([1-9][0-9]*)\.jsonl")
REVIEW_FILE = "review.json"
SUPERSEDED_FILE = "superseded.json"
MANIFEST_FILE = "manifest.csv"
IMAGES_DIR = "images"

#: Columns of ``manifest.csv``, in order (paths are relative to the run folder unless they lie outside it).
MANIFEST_COLUMNS = (
    "item_id", "image", "label", "prompt", "seed", "status", "accepted", "reason", "similarity", "edit_path",
    "mix_path", "mask", "ramp", "radius", "softness", "lam", "fractal_seed", "fractal_source", "seconds",
    "retried", "editor", "model", "error", "image_hash", "superseded",
    "rank",
)
#: Written to ``manifest.csv`` only when some item was redone for a replaced photo (older manifests lack it).
OPTIONAL_COLUMNS = ("superseded",)
_MIX_FIELDS = ("mask", "ramp", "radius", "softness", "lam", "fractal_seed", "fractal_source")


def records_file(rank: int = 0) -> str:
    """The completion log of process ``rank`` (rank 0, and a run of one process, write ``items.jsonl``)."""
    return RANK_RECORDS.format(rank=rank) if rank else RECORDS_FILE


def record_logs(out_dir: str | os.PathLike) -> list[Path]:
    """The completion logs in ``out_dir``: ``items.jsonl``, then those of ranks 1, 2, ... (by rank)."""
    out = Path(out_dir)
    ranks = sorted(int(m.group(1)) for p in out.glob("items.rank*.jsonl") if (m := _RANK_LOG.fullmatch(p.name)))
    return [p for p in [out / RECORDS_FILE, *(out / records_file(r) for r in ranks if r)] if p.is_file()]


def append_records(out_dir: str | os.PathLike, records: Iterable[dict[str, Any]], rank: int = 0) -> None:
    """Append completion records to the log of process ``rank`` durably (one write, flush, fsync).

    Call only after every file named in the records exists: the line is the proof of completion.
    """
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    if not lines:
        return
    path = Path(out_dir) / records_file(rank)
    try:
        with open(path, "ab+") as fh:
            # A SIGKILL during an earlier append may have left a cut last line; end it so that our first line
            # stays parseable (the cut fragment is then skipped by the reader).
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    lines = "\n" + lines
            fh.write(lines.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # a cut line is skipped by the reader; the items are done again on resume
        raise io_error(exc, path) from exc


def undrawable_records(editor, items: Iterable[Any]) -> list[dict[str, Any]]:
    """Failed completion records for the planned items whose prompt ``editor`` cannot draw.

    The error is kept as a catalog key with its parameters too, so the Generate page shows it in the user's
    language.
    """
    records = []
    cannot = {}
    for it in items:
        if it.prompt not in cannot:
            cannot[it.prompt] = not editor.can_edit(it.prompt)
        if cannot[it.prompt]:
            err = UserError("err.editor.needs_diffusion", prompt=it.prompt)
            records.append({"id": it.id, "status": "failed", "seed": it.seed, "retried": False, "seconds": 0.0,
                            "editor": editor.info.id, "model": editor.info.model, "t": time.time(),
                            "error": str(err), "error_key": err.key, "error_params": dict(err.params)})
    return records


def read_records(out_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The latest completion record of each item, ``{item_id: record}``, over every process's log; unparseable
    lines are skipped. In one log the last line wins; between logs the later finish time ``t`` wins."""
    records: dict[str, dict[str, Any]] = {}
    for path in record_logs(out_dir):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        own: dict[str, dict[str, Any]] = {}
        for line in raw.split(b"\n"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                own[rec["id"]] = rec
        for item_id, rec in own.items():
            old = records.get(item_id)
            if old is None or _finished_at(rec) >= _finished_at(old):
                records[item_id] = rec
    return records


def _finished_at(record: dict[str, Any]) -> float:
    t = record.get("t")
    return float(t) if isinstance(t, (int, float)) else 0.0


def read_superseded(out_dir: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """``superseded.json``: per item id, the records set aside because the photo was replaced (oldest first)."""
    data = read_json(Path(out_dir) / SUPERSEDED_FILE, default={})
    return {str(k): list(v) for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def is_current(record: dict[str, Any], image_hash: str, superseded: list[dict[str, Any]] | None = None) -> bool:
    """Whether ``record`` was made from the photo whose content hash is ``image_hash``.

    Records of older versions carry no hash: they count unless :func:`supersede` set them aside.
    """
    if record.get("image_hash") is not None:
        return record["image_hash"] == image_hash
    return record.get("t") not in {e.get("t") for e in superseded or []}


def current_records(out_dir: str | os.PathLike, hashes: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The latest record of each item of ``hashes`` (``{item_id: photo hash}``) that belongs to that photo."""
    records, superseded = read_records(out_dir), read_superseded(out_dir)
    return {i: r for i, r in records.items() if i in hashes and is_current(r, hashes[i], superseded.get(i))}


def supersede(out_dir: str | os.PathLike, hashes: dict[str, str], old_hashes: dict[str, str]) -> list[str]:
    """Set aside the records of items whose photo changed; returns their ids (sorted).

    Args:
        hashes: ``{item_id: content hash}`` of the photos now in the data folder.
        old_hashes: the same from the run's previous ``plan.json`` (read before it is rewritten): the photo
            of a record of an older version, which carries no hash.

    The old record's summary is added to ``superseded.json`` first, then the stale GenMix image and the review
    of it are deleted, so a kill at any point leaves a state that the next run completes.
    """
    out = Path(out_dir)
    records, superseded = read_records(out), read_superseded(out)
    stale = []
    for item_id, now in hashes.items():
        rec = records.get(item_id)
        if rec is None or rec.get("t") in {e.get("t") for e in superseded.get(item_id, [])}:
            continue   # nothing made, or set aside already
        was = rec.get("image_hash") or old_hashes.get(item_id)
        if was is not None and was != now:
            superseded.setdefault(item_id, []).append(
                {"image_hash": was, "t": rec.get("t"), "seed": rec.get("seed"), "status": rec.get("status")})
            stale.append(item_id)
    if not stale:
        return []
    atomic_write_json(out / SUPERSEDED_FILE, superseded)
    review = read_review(out)
    for item_id in stale:
        mix = (records[item_id].get("mix") or {}).get("path")
        if mix:
            (out / str(mix)).unlink(missing_ok=True)
        review.pop(item_id, None)
    if (out / REVIEW_FILE).exists():
        atomic_write_json(out / REVIEW_FILE, review)
    return sorted(stale)


def read_plan(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The planned items of a run (see :func:`genmix_core.generate.plan.plan_items`).

    Raises:
        UserError: ``err.gen.not_a_run`` when the folder holds no generation run.
    """
    plan = read_json(Path(out_dir) / PLAN_FILE)
    if not isinstance(plan, list):
        raise UserError("err.gen.not_a_run", path=str(out_dir))
    return plan


def read_review(out_dir: str | os.PathLike) -> dict[str, bool]:
    data = read_json(Path(out_dir) / REVIEW_FILE, default={})
    return {str(k): bool(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _rel(path: str | None, out_dir: Path) -> str:
    if not path:
        return ""
    p = Path(path)
    try:
        return p.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return str(p)


def load_manifest(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The run as a table, one row per planned item, columns :data:`MANIFEST_COLUMNS`, merged from every
    process's completion log (``rank``: the process that made the item; empty while pending).

    ``status`` is ``pending`` (not done yet, or done from a photo since replaced), ``done`` or ``failed``.
    ``accepted``: the user's review, else the quality filter's verdict (never for a failed or pending item);
    ``reason``: why not (empty when accepted); ``similarity``: the filter's score (:mod:`.verdicts`).
    ``superseded``: the content hashes of earlier photos of the item whose results were replaced (``;``-separated,
    empty for most items). Works while the job runs.
    """
    out = Path(out_dir)
    plan = read_plan(out)
    records = current_records(out, {item["id"]: item["image_hash"] for item in plan})
    superseded = read_superseded(out)
    review, scored, filter_on = read_review(out), read_quality(out).get("items", {}), filter_enabled(out)
    rows = []
    for item in plan:
        rec = records.get(item["id"], {})
        status = rec.get("status", "pending")
        mix = rec.get("mix") or {}
        accepted, reason, similarity = verdict(rec or None, review.get(item["id"]), scored.get(item["id"]), filter_on)
        row = {
            "item_id": item["id"], "image": item["image"], "label": item["label"], "prompt": item["prompt"],
            "seed": rec.get("seed", item["seed"]), "status": status,
            "accepted": accepted, "reason": reason, "similarity": similarity,
            "edit_path": _rel(rec.get("edit_path"), out),
            # empty for an item done without its mix (a run with ``no_mixes``)
            "mix_path": str(mix.get("path", item["mix_path"]) or "") if status == "done" else "",
            **{k: mix.get(k) for k in _MIX_FIELDS},
            "seconds": rec.get("seconds"), "retried": bool(rec.get("retried", False)),
            "editor": rec.get("editor", ""), "model": rec.get("model") or "", "error": rec.get("error", ""),
            "image_hash": item["image_hash"],
            "superseded": ";".join(str(e.get("image_hash")) for e in superseded.get(item["id"], [])),
            "rank": rec.get("rank"),
        }
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    df["rank"] = df["rank"].astype("Int64")   # whole numbers, empty while pending (not 0.0 / NaN)
    return df


def export_manifest(out_dir: str | os.PathLike) -> Path:
    """Write ``<out>/manifest.csv`` and ``prompt_stats.csv`` (UTF-8, atomically) from the plan, the log, the
    filter and the review."""
    df = load_manifest(out_dir)
    write_prompt_stats(out_dir, df)
    df = df.drop(columns=[c for c in OPTIONAL_COLUMNS if not df[c].astype(bool).any()])
    return atomic_write_text(Path(out_dir) / MANIFEST_FILE, df.to_csv(index=False))


def set_accepted(out_dir: str | os.PathLike, item_id: str, accepted: bool) -> None:
    """Record the user's review of one item (atomically) and refresh ``manifest.csv``.

    Raises:
        UserError: ``err.gen.unknown_item`` when the run has no such item.
    """
    out = Path(out_dir)
    if item_id not in {item["id"] for item in read_plan(out)}:
        raise UserError("err.gen.unknown_item", item=item_id, path=str(out))
    review = read_review(out)
    review[item_id] = bool(accepted)
    atomic_write_json(out / REVIEW_FILE, review)
    export_manifest(out)


def set_accepted_many(out_dir: str | os.PathLike, item_ids: Iterable[str], accepted: bool) -> int:
    """Record one review decision for many items at once ("reject all of this prompt"); returns how many.

    Raises:
        UserError: ``err.gen.unknown_item`` naming the first id the run does not have.
    """
    out = Path(out_dir)
    known = {item["id"] for item in read_plan(out)}
    ids = list(item_ids)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError("err.gen.unknown_item", item=unknown[0], path=str(out))
    review = read_review(out)
    review.update({i: bool(accepted) for i in ids})
    atomic_write_json(out / REVIEW_FILE, review)
    export_manifest(out)
    return len(ids)


def export_zip(out_dir: str | os.PathLike) -> Path:
    """Zip the accepted GenMix images in class folders plus their ``manifest.csv``; returns the zip's path.

    Layout inside: ``<class>/<image-stem>__<prompt-slug>.png`` and ``manifest.csv`` (its ``mix_path`` column
    points at the zip members; ``edit_path`` is left empty, as the edits are not in the zip, so no path of this PC
    leaves with it). Written to a temporary name and renamed, so a reader never sees half a zip.

    Raises:
        UserError: ``err.gen.nothing_to_export`` when no item is done and accepted.
    """
    out = Path(out_dir)
    df = load_manifest(out)
    df = df[df["accepted"] & (df["mix_path"] != "")].copy()   # edits without a mix (no_mixes) have nothing to zip
    if df.empty:
        raise UserError("err.gen.nothing_to_export", path=str(out))
    prefix = IMAGES_DIR + "/"
    df["mix_path"] = [p[len(prefix):] if p.startswith(prefix) else p for p in df["mix_path"]]
    # The edits stay in this PC's cache and are not in the zip: no local path travels with it.
    df["edit_path"] = ""
    target = out / fit_name(f"genmix_{out.name}", ".zip")   # a long --out folder name must not break it
    fd, tmp = tempfile.mkstemp(dir=out, prefix=temp_prefix(target.name), suffix=INCOMPLETE_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            # PNGs are already compressed: store them, deflate only the table.
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                for member in df["mix_path"]:
                    zf.write(out / IMAGES_DIR / member, member)
                zf.writestr("manifest.csv", df.to_csv(index=False), compress_type=zipfile.ZIP_DEFLATED)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return target


def list_runs(runs_dir: str | os.PathLike) -> list[Path]:
    """Generation run folders under ``runs_dir`` (their ``job.json`` or ``config.json`` says so), newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs: list[tuple[float, Path]] = []
    for p in root.iterdir():
        for name in ("job.json", CONFIG_FILE):
            data = read_json(p / name, default=None)
            if isinstance(data, dict) and data.get("kind") == "generate":
                started = (read_json(p / "job.json", default={}) or {}).get("started") or p.stat().st_mtime
                runs.append((float(started), p))
                break
    return [p for _, p in sorted(runs, key=lambda r: (r[0], r[1].name), reverse=True)]
