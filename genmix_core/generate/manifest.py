"""The record of a generation run: what was planned, what is done, what the user accepted, and the export.

A generation run folder (``<out>``) holds::

    config.json         all arguments of the run (a rerun must match them to resume)
    plan.json           every planned (image, prompt) item with its seed and output path
    items.jsonl         append-only completion log: one JSON line per finished item (done or failed)
    review.json         the user's accept/reject decisions, {item_id: true|false}
    manifest.csv        plan + completion log + review as one table (pandas-readable)
    images/<class>/<image-stem>__<prompt-slug>.png    the GenMix images, ready for training
    job.json, log.txt   progress and log of the worker (genmix_core.jobs)

Resume design (append-only JSONL with a tolerant reader, as chosen for issue 3): a line is appended, flushed
and fsynced only after the item's files exist (each written atomically), so a line in ``items.jsonl`` proves the
files are whole. A SIGKILL can at worst cut the last line; the reader skips any line that does not parse, and
the writer first ends an unterminated last line so the cut line never swallows the next record. The last line
of an item wins. An item without a line (or whose image went missing) is simply done again; its seed makes
the redo identical.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from genmix_core.errors import UserError
from genmix_core.fileio import INCOMPLETE_SUFFIX, atomic_write_json, atomic_write_text, read_json

CONFIG_FILE = "config.json"
PLAN_FILE = "plan.json"
RECORDS_FILE = "items.jsonl"
REVIEW_FILE = "review.json"
MANIFEST_FILE = "manifest.csv"
IMAGES_DIR = "images"

#: Columns of ``manifest.csv``, in order (paths are relative to the run folder unless they lie outside it).
MANIFEST_COLUMNS = (
    "item_id", "image", "label", "prompt", "seed", "status", "accepted", "edit_path", "mix_path",
    "mask", "ramp", "radius", "softness", "lam", "fractal_seed", "fractal_source", "seconds",
    "retried", "editor", "model", "error", "image_hash",
)
_MIX_FIELDS = ("mask", "ramp", "radius", "softness", "lam", "fractal_seed", "fractal_source")


def append_records(out_dir: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Append completion records to ``items.jsonl`` durably (one write, flush, fsync).

    Call only after every file named in the records exists: the line is the proof of completion.
    """
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    if not lines:
        return
    path = Path(out_dir) / RECORDS_FILE
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
    """The latest completion record of each item, ``{item_id: record}``; unparseable lines are skipped."""
    try:
        raw = (Path(out_dir) / RECORDS_FILE).read_bytes()
    except OSError:
        return {}
    records: dict[str, dict[str, Any]] = {}
    for line in raw.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("id"), str):
            records[rec["id"]] = rec
    return records


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
    """The run as a table, one row per planned item, columns :data:`MANIFEST_COLUMNS`.

    ``status`` is ``pending`` (not done yet), ``done`` or ``failed``. ``accepted`` is the user's review; an
    unreviewed done item counts as accepted, a failed or pending one never does. Works while the job runs.
    """
    out = Path(out_dir)
    plan = read_plan(out)
    records = read_records(out)
    review = read_review(out)
    rows = []
    for item in plan:
        rec = records.get(item["id"], {})
        status = rec.get("status", "pending")
        mix = rec.get("mix") or {}
        row = {
            "item_id": item["id"], "image": item["image"], "label": item["label"], "prompt": item["prompt"],
            "seed": rec.get("seed", item["seed"]), "status": status,
            "accepted": bool(review.get(item["id"], True)) and status == "done",
            "edit_path": _rel(rec.get("edit_path"), out),
            "mix_path": item["mix_path"] if status == "done" else "",
            **{k: mix.get(k) for k in _MIX_FIELDS},
            "seconds": rec.get("seconds"), "retried": bool(rec.get("retried", False)),
            "editor": rec.get("editor", ""), "model": rec.get("model") or "", "error": rec.get("error", ""),
            "image_hash": item["image_hash"],
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def export_manifest(out_dir: str | os.PathLike) -> Path:
    """Write ``<out>/manifest.csv`` (UTF-8, atomically) from the plan, the log and the review."""
    df = load_manifest(out_dir)
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
    df = df[df["accepted"]].copy()
    if df.empty:
        raise UserError("err.gen.nothing_to_export", path=str(out))
    prefix = IMAGES_DIR + "/"
    df["mix_path"] = [p[len(prefix):] if p.startswith(prefix) else p for p in df["mix_path"]]
    # The edits stay in this PC's cache and are not in the zip: no local path travels with it.
    df["edit_path"] = ""
    target = out / f"genmix_{out.name}.zip"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{target.name}.", suffix=INCOMPLETE_SUFFIX)
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
