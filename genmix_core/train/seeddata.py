"""What one run seed draws (issue #15, "seeds that vary everything"): its split, its generation run, its edits.

Seed ``s`` of a comparison derives a split seed and a generation seed from the base seeds
(:meth:`~genmix_core.train.config.CompareConfig.run_seeds`), so ± over seeds holds the variance of the split
(which originals are held out, which line photos validate), of the edits and mixes, and of the training, not
only the last. Generation runs live in ``<out>/generation/seed<s>/`` (only that seed's training originals
are edited); with ``--edits`` the given run serves every seed, and the results say the generation is fixed.

Two steps, so that the job knows its whole plan (and its time) before the first edit: :func:`split_seed` for
every seed, then :func:`add_edits` for every seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.jobconfig import read_stored_args
from genmix_core.jobs import JobReporter, request_cancel
from genmix_core.train.conditions import edit_data_needed, needs_edits
from genmix_core.train.config import CompareConfig
from genmix_core.train.data import TrainingData, attach_edits, prepare_data
from genmix_core.train.loop import Cancelled

GENERATION_DIR = "generation"


@dataclass
class SeedData:
    """One seed's data and where its edits came from."""

    seed: int
    seeds: dict[str, int]
    data: TrainingData
    generation: dict | None
    seconds: dict[str, float]


def stored_lam(cfg: CompareConfig) -> float:
    """λ of the stored GenMix images (used with ``redraw=False``): the fixed λ, else the middle of the range
    (0.2, the authors' value, for the default range)."""
    if cfg.lam is not None:
        return float(cfg.lam)
    low, high = cfg.lam_range
    return round((low + high) / 2, 6)


def generation_dir(cfg: CompareConfig, seed: int) -> Path:
    return Path(cfg.out) / GENERATION_DIR / f"seed{int(seed)}"


def generation_config(cfg: CompareConfig, seed: int, train_rel: list[str] | None = None):
    """The :class:`~genmix_core.generate.GenerateConfig` of seed ``seed``'s generation step
    (``<out>/generation/seed<seed>``, its own generation seed); only ``train_rel`` (that seed's training
    originals) are edited when given. When no condition trains on stored GenMix pictures (GenMix re-draws its
    mixes at training time, the default) the step stores edits only: mixing is over half of its work, and the
    report makes its few examples itself."""
    from genmix_core.generate import GenerateConfig
    from genmix_core.prompts import DEFAULT_PROMPT_SET

    prompt_set = cfg.prompt_set or (None if cfg.prompts else DEFAULT_PROMPT_SET)
    return GenerateConfig(data=cfg.data, out=str(generation_dir(cfg, seed)), prompts=list(cfg.prompts),
                          editor=cfg.editor, model=cfg.model, seed=cfg.run_seeds(seed)["generation"],
                          mask_set=cfg.mask_set, lam=stored_lam(cfg), prompt_set=prompt_set,
                          filters=cfg.filters or None, no_filter=cfg.no_filter,
                          no_mixes="mixed" not in edit_data_needed(cfg.conditions, cfg.redraw),
                          include=None if train_rel is None else list(train_rel))


def generating(cfg: CompareConfig) -> bool:
    """Whether the comparison runs generation steps of its own (a condition needs edits, no ``--edits``)."""
    return needs_edits(cfg.conditions) and not cfg.edits


def split_seed(cfg: CompareConfig, seed: int) -> SeedData:
    """Seed ``seed``'s split (held-out originals, validation parts), its photos loaded; no edits yet.

    Raises:
        UserError: bad data (``err.train.*``).
    """
    seeds = cfg.run_seeds(seed)
    t0 = time.perf_counter()
    data = prepare_data(cfg.data, size=cfg.size, test_fraction=cfg.test_fraction, split_seed=seeds["split"],
                        test_dir=cfg.test, val_fraction=cfg.val_fraction if cfg.early_stop else 0.0,
                        cross_val_fraction=cfg.cross_val_fraction)
    return SeedData(seed=int(seed), seeds=seeds, data=data, generation=None,
                    seconds={"prepare_s": round(time.perf_counter() - t0, 2)})


def add_edits(cfg: CompareConfig, sd: SeedData, reporter: JobReporter, tracker=None) -> SeedData:
    """Generate seed ``sd.seed``'s edits (or take ``--edits``) and attach what its conditions train on.

    Args:
        tracker: the job's :class:`~genmix_core.train.estimate.Tracker` (progress in planned seconds), or None
            to report edits done.

    Raises:
        UserError: a generation error (``err.gen.*``), or stored GenMix images mixed by an older fractal rule
            when they would be trained on (``err.train.old_fractals``).
        Cancelled: the generation was cancelled.
    """
    from genmix_core.generate import GenerateConfig, run_generation
    from genmix_core.mixing import FRACTAL_RENDER

    if not needs_edits(cfg.conditions):
        return sd
    data = sd.data
    t0 = time.perf_counter()
    if cfg.edits:
        gen_dir = Path(cfg.edits)
    else:
        gcfg = generation_config(cfg, sd.seed, data.train["rel"].tolist())
        gen_dir = Path(gcfg.out)

        def progress(done: int, total: int | None = None) -> None:
            if tracker is not None:
                tracker.generated(done / total if total else 0.0, message_key="train.job.generating",
                                  done_items=done)
            else:
                reporter.update(done=done, total=total, message_key="train.job.generating", done_items=done)
            if reporter.cancel_requested():
                request_cancel(gen_dir)

        if run_generation(gcfg, progress=progress).status != "done":
            raise Cancelled()
    made_by = read_stored_args(gen_dir, GenerateConfig) or {}
    wanted = edit_data_needed(cfg.conditions, cfg.redraw)
    if "mixed" in wanted and not made_by.get("fractals") and made_by.get("fractal_render") != FRACTAL_RENDER:
        raise UserError("err.train.old_fractals", path=str(gen_dir),
                        old=made_by.get("fractal_render") or "direct", new=FRACTAL_RENDER)
    attach_edits(data, gen_dir, raw="raw" in wanted, mixed="mixed" in wanted)
    sd.seconds["generation_s"] = round(time.perf_counter() - t0, 2)
    # Which editor made the edits, so a report can say whether they are diffusion edits (honest labels).
    sd.generation = {"path": str(gen_dir), "n_edits": len(data.edits), "editor": made_by.get("editor"),
                     "model": made_by.get("model"), "seed": made_by.get("seed"),
                     "fractal_render": made_by.get("fractal_render"), "varies_with_seed": not cfg.edits}
    return sd
