"""``search.json``: what a recipe search found, and enough to replay it.

Keys (issue 10):

* ``recipes``: one object per recipe scored, in the order the schedule met them: ``name``, ``settings``
  (:meth:`~genmix_core.search.recipes.Recipe.settings`: condition, λ or its range, mask set, prompts, budget),
  ``stage`` and ``selection``: ``mean``, ``std``, ``per_seed`` (``{seed: accuracy}``), ``n_photos``, ``part``;
  ``complete`` when every seed was scored (only those can be chosen);
* ``chosen``: the recipe name with the best selection mean; ``reference``: what it is judged against;
* ``report``: ``chosen`` and ``baseline`` (the reference), each ``{name, mean, per_seed}`` on the report part,
  and ``part`` / ``n_photos``; ``verdict``: the paired verdict entry (:func:`genmix_core.train.compute_verdict`)
  or None, with ``verdict_note`` saying why none;
* ``split`` (:meth:`~genmix_core.search.split.OnsiteSplit.to_dict`: which photo served which purpose; per seed
  the held-out training photos when the fallback selected on them), ``grid``, ``budget``, ``stages``,
  ``prompt_stage``, ``usage`` (every scoring: stage, recipe, seed, part, photos; in time order), ``config``,
  ``generation``, ``timings``, ``status``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genmix_core.errors import UserError
from genmix_core.fileio import read_json
from genmix_core.jobs import list_runs

SEARCH_FILE = "search.json"
VERSION = 1


def _stat(per_seed: dict[str, float]) -> dict:
    values = list(per_seed.values())
    return {"mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0 if values else None,
            "per_seed": per_seed}


def _recipes(job) -> list[dict]:
    cfg, state = job.cfg, job.state
    out = []
    for recipe in state.order:
        scores = state.scores.get(recipe, {})
        if not scores:
            continue
        per_seed = {str(s): float(v) for s, v in sorted(scores.items())}
        first = job.runs.get((recipe, next(iter(sorted(scores))))) or {}
        usage = first.get("usage", {})
        out.append({"name": recipe.name, "stage": state.stage_of.get(recipe),
                    "settings": recipe.settings(job.prompts, job.base.steps, cfg.epochs, cfg.batch_size),
                    "selection": {**_stat(per_seed), "n_photos": usage.get("n"), "part": usage.get("part")},
                    "complete": len(scores) == len(cfg.seeds)})
    return out


def _report(job) -> dict | None:
    if not job.final:
        return None
    by_recipe: dict[str, dict[str, float]] = {}
    for rec in job.final:
        by_recipe.setdefault(rec["recipe"], {})[str(rec["seed"])] = float(rec["cross_domain"]["accuracy"])
    chosen = job.state.chosen.name
    ref = job.reference.name if job.reference is not None else None
    first = job.final[0]["usage"]
    return {"part": first["part"], "n_photos": first["n"],
            "chosen": {"name": chosen, **_stat(by_recipe.get(chosen, {}))},
            "baseline": {"name": ref, **_stat(by_recipe.get(ref, {}))} if ref else None}


def _usage(job) -> list[dict]:
    records = [*job.runs.values(), *job.final]
    records.sort(key=lambda r: (r.get("finished") or 0.0))
    return [{"stage": r["stage"], "recipe": r["recipe"], "seed": r["seed"], **r["usage"]} for r in records]


def _split(job) -> dict:
    out = job.split.to_dict()
    if job.split.mode == "training_domain" and getattr(job, "seeds", None):
        out["per_seed"] = {str(s): {"selection": sd.data.val["rel"].tolist(),
                                    **({"report": sd.data.test["rel"].tolist()} if job.split.report is None else {})}
                           for s, sd in job.seeds.items()}
    return out


def _verdict_note(job) -> str | None:
    if job.status != "done" or job.verdict is not None:
        return None
    return "baseline_chosen" if job.reference is None else "no_pairs"


def assemble(job) -> dict:
    """The content of ``search.json`` for a :class:`~genmix_core.search.run.SearchJob` (also while it runs)."""
    cfg, state = job.cfg, job.state
    base = getattr(job, "base", None)
    return {
        "version": VERSION, "status": job.status, "updated": time.time(), "config": asdict(cfg),
        "classes": list(getattr(job, "classes", [])), "prompts": list(job.prompts),
        "grid": {"conditions": list(cfg.conditions), "lams": list(cfg.lams), "lam_spread": cfg.lam_spread,
                 "mask_sets": list(cfg.mask_sets), "prompt_search": cfg.prompt_search,
                 "recipes": [r.name for r in job.grid]},
        "budget": {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "base_steps": base.steps if base else None,
                   "scales": list(cfg.steps_scale), "seeds": list(cfg.seeds), "eta": cfg.eta,
                   "finalists": cfg.finalists, "rule": "matched_steps"},
        "split": _split(job) if hasattr(job, "split") else None,
        "stages": list(state.stages),
        "prompt_stage": state.prompts,
        "recipes": _recipes(job) if base else [],
        "chosen": state.chosen.name if state.chosen is not None else None,
        "reference": job.reference.name if job.reference is not None else None,
        "report": _report(job),
        "verdict": job.verdict,
        "verdict_note": _verdict_note(job),
        "usage": _usage(job),
        "generation": {str(s): sd.generation for s, sd in getattr(job, "seeds", {}).items()},
        "device": str(job.device),
        "timings": dict(job.timings),
        "runs": dict(job.counts),
    }


def load_search(run_dir: str | Path) -> dict:
    """The ``search.json`` of a search folder.

    Raises:
        UserError: ``err.search.not_a_run`` when the folder holds none (or it cannot be read).
    """
    data = read_json(Path(run_dir) / SEARCH_FILE, default=None)
    if not isinstance(data, dict) or "recipes" not in data:
        raise UserError("err.search.not_a_run", path=str(run_dir))
    return data


def list_search_runs(runs_dir: str | Path) -> list[Path]:
    """Search folders under ``runs_dir`` (holding ``search.json`` or a search ``job.json``), newest first."""
    return list_runs(runs_dir, "search", SEARCH_FILE)


def recipe_entry(search: dict, name: str | None = None) -> dict | None:
    """The ``recipes`` entry called ``name`` (default: the chosen one), or None."""
    name = name or search.get("chosen")
    return next((r for r in search.get("recipes", []) if r["name"] == name), None)
