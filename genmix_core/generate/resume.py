"""The start of a run, done by one process (rank 0) holding the folder's claim: check ``config.json``, plan, set
aside results of replaced photos, list unusable files, and find what is left to do from the completion logs of
all processes (:mod:`genmix_core.generate.manifest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json, ensure_dir, read_json
from genmix_core.generate import manifest
from genmix_core.generate.batch import SOURCE_UNREADABLE
from genmix_core.generate.config import FREE_ARGS, GenerateConfig
from genmix_core.generate.edit_cache import clean_incomplete
from genmix_core.generate.filtering import FEATURES_DIR
from genmix_core.generate.plan import include_only, plan_items
from genmix_core.generate.sources import Skipped, check_sources, scan_data, summary_line, write_skipped
from genmix_core.jobconfig import flag, read_stored_args, stored_args, write_config


def check_run_folder(cfg: GenerateConfig) -> None:
    """Write ``cfg.out``'s ``config.json``, or check it matches (then we resume). Call it holding the folder's
    claim (:func:`genmix_core.runclaim.claim_run_folder`), as :func:`genmix_core.generate.run.run_generation`
    does.

    Raises:
        UserError: ``err.gen.config_changed`` when the folder holds a run with other arguments.
    """
    out = ensure_dir(cfg.out)
    args = stored_args(cfg)
    old = read_stored_args(out, GenerateConfig)
    if old is not None:
        changed = sorted(k for k in {*args, "include"} if k not in FREE_ARGS and old.get(k) != args.get(k))
        if "fractal_render" in changed:
            # Made before issue #15: fractals rendered straight at the photo size, not at 512 px and shrunk.
            raise UserError("err.gen.old_fractals", out=str(out), old=old.get("fractal_render") or "direct",
                            new=args.get("fractal_render"))
        if changed:
            detail = "; ".join(f"{flag(k)} {old.get(k)!r} -> {args.get(k)!r}" for k in changed)
            raise UserError("err.gen.config_changed", out=str(out), changes=detail)
    elif manifest.record_logs(out):
        raise UserError("err.gen.config_changed", out=str(out), changes="config.json is missing")
    write_config(out, cfg)


@dataclass
class Start:
    """What the start found, shared with every process of the run.

    Attributes:
        total: usable items of the plan.
        todo: the items still to do (of all processes), in plan order.
        prompts: the plan's distinct prompts (each editor checks it can render them).
    """

    total: int
    todo: list
    prompts: list[str]
    skipped: list[Skipped] = field(default_factory=list)     # files of the data folder left out, with reasons
    superseded: list[str] = field(default_factory=list)      # items redone because their photo was replaced

    @property
    def already(self) -> int:
        return self.total - len(self.todo)


def begin(cfg: GenerateConfig, log: Callable[[str], None]) -> Start:
    """Check the folder, plan, write ``plan.json`` and ``skipped.csv``, drop temp files of dead writers; return
    what is left to do. Only one process of a run calls it, before the others start."""
    check_run_folder(cfg)
    out = Path(cfg.out)
    items, todo, skipped, superseded = find_todo(cfg, log)
    for s in skipped:
        log(f"skipped: {s.message()}")
    write_skipped(out, skipped)
    atomic_write_json(out / manifest.PLAN_FILE, [it.to_plan() for it in items])
    # The run folder is ours alone (claimed): temp files of killed writers go (images, features, job.json ...).
    clean_incomplete(out, min_age_s=0, recursive=False)
    for folder in (manifest.IMAGES_DIR, FEATURES_DIR):
        clean_incomplete(out / folder, min_age_s=0)
    clean_incomplete(cfg.cache_dir)   # a shared cache: only the temp files of writers that are gone
    log(f"{len(items) - len(todo)} of {len(items)} items already done; {len(todo)} to go.")
    return Start(len(items), todo, list(dict.fromkeys(it.prompt for it in items)), skipped, superseded)


def _files_exist(record: dict, out: Path, edits_only: bool) -> bool:
    """Whether a done item's files are there: its GenMix picture, or with ``edits_only`` its edit (an item done
    without a mix, by a run with ``no_mixes``, is done again by a run that wants mixes: from the edit cache)."""
    if edits_only:
        return bool(record.get("edit_path")) and Path(str(record["edit_path"])).is_file()
    mix = str((record.get("mix") or {}).get("path") or "")
    return bool(mix) and (out / mix).is_file()


def find_todo(cfg: GenerateConfig, log: Callable[[str], None]):
    """Plan the run, set aside results of replaced photos, find what is left to do and the unusable files.

    Returns:
        ``(items, todo, skipped, superseded ids)``; ``items`` and ``todo`` hold usable photos only.
    """
    out = Path(cfg.out)
    sources, skipped = scan_data(cfg.data)
    items = plan_items(sources, cfg.prompts, seed=cfg.seed, per_image=cfg.per_image)
    if cfg.include is not None:
        items = include_only(items, cfg.include, cfg.data)
    hashes = {it.id: it.source.image_hash for it in items}
    old_plan = read_json(out / manifest.PLAN_FILE, default=[]) or []
    old_hashes = {p.get("id"): p.get("image_hash") for p in old_plan if isinstance(p, dict)}
    superseded = manifest.supersede(out, hashes, old_hashes)   # before plan.json changes (see supersede)
    if superseded:
        log(f"{len(superseded)} item(s) are redone: their photo was replaced since they were made.")
    records = manifest.current_records(out, hashes)
    # Failed items are final (their retry seed is fixed, a redo would fail the same way), except those whose
    # original was unreadable (deleted meanwhile, now back); a done item whose image went missing is done again.
    finished = {i for i, r in records.items() if (
        r.get("status") == "failed" and r.get("error_key") != SOURCE_UNREADABLE) or (
        r.get("status") == "done" and _files_exist(r, out, cfg.no_mixes))}
    todo = [it for it in items if it.id not in finished]
    unusable = check_sources(it.source for it in todo)
    skipped = sorted(skipped + unusable, key=lambda s: s.file)
    if skipped and cfg.strict:
        for s in skipped:
            log(f"unusable: {s.message()}")
        raise UserError("err.gen.strict_skipped", path=cfg.data, count=len(skipped), files=summary_line(skipped))
    bad = {s.file for s in unusable}
    items = [it for it in items if it.source.rel not in bad]
    todo = [it for it in todo if it.source.rel not in bad]
    if not items:
        raise UserError("err.gen.no_usable_images", path=cfg.data, count=len(skipped), files=summary_line(skipped))
    return items, todo, skipped, superseded
