"""One search run: a recipe trained at one seed with the Train & Compare API, scored on one part of the photos.

Training is Train & Compare's own (:func:`genmix_core.train.build_model`, the condition's pool, the matched-steps
loop :func:`genmix_core.train.train_model`), so a recipe trains here exactly as it will after "apply". What the
run learned is kept in ``weights/<run>.pt`` (only the parameters that train, and their layers' statistics: a few
kilobytes for the default head-only fine-tune), so the report stage can score the chosen recipe on the report
part without training it again; the run's record ``runs/<run>.json`` is written after that file, atomically,
and a rerun with the same key reuses it (resume).

Every scoring names the part it used (``part``: ``selection``, ``training_holdout``, ``report``, ...) and how
many photos; ``search.json``'s ``usage`` is built from these records, so a reader (and a test) can check that
the report part was scored only at the end, and only for the chosen recipe and its reference.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genmix_core.fileio import atomic_write_bytes, atomic_write_json, read_json
from genmix_core.paths import fit_name
from genmix_core.search.recipes import Recipe
from genmix_core.seeds import content_key
from genmix_core.train import Budget, TrainConfig, build_model, get_condition, train_model

RUNS_DIR = "runs"
FINAL_DIR = "final"
WEIGHTS_DIR = "weights"


def stem(recipe: Recipe, seed: int) -> str:
    return fit_name(f"{recipe.name}_seed{int(seed)}", ".json")[: -len(".json")]


def stage_key(stage: str) -> str:
    """Catalog key of a stage's name (``rung0``, ``prompts``, ``rung1``, ``x4`` → ``search.stage.budget``)."""
    return "search.stage.budget" if stage.startswith("x") else f"search.stage.{stage}"


def key_of(*parts: object) -> str:
    """A content key of JSON-able parts (dict order does not matter)."""
    return content_key(*(json.dumps(p, sort_keys=True, default=str) for p in parts))


def photo_tensors(df: pd.DataFrame, classes: list[str], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, size, size)`` in [0, 1] and class indices ``(N,)`` of a table of photos."""
    from genmix_core.train.data import load_image_array, to_tensor

    index = {c: i for i, c in enumerate(classes)}
    arrays = [load_image_array(p, size) for p in df["path"]]
    images = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    return to_tensor(images), torch.tensor(df["label"].map(index).to_numpy(dtype=np.int64))


def with_prompts(data, recipe: Recipe, prompts: list[str]):
    """``data`` with only the edits of the recipe's prompts (the same object when it uses them all)."""
    if recipe.prompts is None or data.edits is None:
        return data
    keep = data.edits["prompt"].isin(recipe.prompt_texts(prompts)).to_numpy()
    return replace(data, edits=data.edits[keep].reset_index(drop=True),
                   edit_images=None if data.edit_images is None else data.edit_images[keep],
                   mix_images=None if data.mix_images is None else data.mix_images[keep])


def trained_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What training changed: the parameters that train, and the buffers of the layers that own them."""
    params = dict(model.named_parameters())
    trained = {n for n, p in params.items() if p.requires_grad}
    owners = {n.rpartition(".")[0] for n in trained}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
            if k in trained or (k not in params and k.rpartition(".")[0] in owners)}


def train_recipe(job, sd, recipe: Recipe, *, on_step=None):
    """Train ``recipe`` on seed ``sd.seed``'s data (see :class:`~genmix_core.search.run.SearchJob`).

    Returns:
        ``(model, stats, budget)``; the model is in eval mode.
    """
    data = with_prompts(sd.data, recipe, job.prompts)
    torch.manual_seed(sd.seed)
    model = build_model(job.cfg.backbone, len(data.classes), size=job.cfg.size, finetune=job.cfg.finetune)
    pool = get_condition(recipe.condition).build_pool(data, seed=sd.seed, redraw=True,
                                                      mix_options=recipe.mix_options())
    budget = Budget(steps=job.base.steps * recipe.scale, batch_size=job.base.batch_size)
    tcfg = TrainConfig(condition=recipe.condition, lr=job.compare.learning_rate)
    stats = train_model(model, pool, tcfg, budget, seed=sd.seed, num_classes=len(data.classes), device=job.device,
                        on_step=on_step, should_stop=job.reporter.cancel_requested)
    return model, stats, budget


def score(model, x: torch.Tensor, y: torch.Tensor, classes: list[str], device, on_work) -> dict:
    """Clean metrics of ``model`` on one part, with every photo's answer (no attacks: selection needs none)."""
    from genmix_core.train.evaluate import evaluate_model

    return evaluate_model(model, x, y, classes, attacks=(), device=device, on_work=on_work)


def save_weights(path: Path, model: torch.nn.Module) -> None:
    buf = io.BytesIO()
    torch.save(trained_state(model), buf)
    atomic_write_bytes(path, buf.getvalue())


def load_model(job, path: Path) -> torch.nn.Module | None:
    """The model a run saved, or None when its file is gone (the caller trains it again: a seed reproduces it)."""
    if not path.is_file():
        return None
    model = build_model(job.cfg.backbone, len(job.classes), size=job.cfg.size, finetune=job.cfg.finetune)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=False)
    return model.to(job.device).eval()


def selection_run(job, sd, recipe: Recipe, stage: str) -> dict:
    """Train (or reuse) ``recipe`` at seed ``sd.seed`` and score it on the seed's selection part; returns the
    run's record."""
    part, x, y, part_key = job.selection_part(sd)
    key = key_of({"search": job.cfg.fingerprint(), "recipe": recipe.settings(job.prompts, job.base.steps,
                  job.cfg.epochs, job.cfg.batch_size), "seed": sd.seed, "data": job.data_key(sd, recipe),
                  "part": [part, part_key]})
    path = job.out / RUNS_DIR / f"{stem(recipe, sd.seed)}.json"
    old = read_json(path)
    if isinstance(old, dict) and old.get("fingerprint") == key:
        job.reused(recipe)
        return old
    shown = {"stage_key": stage_key(stage), "recipe": recipe.name, "seed": sd.seed}
    base_done = job.tracker.done

    def on_step(step: int, loss: float) -> None:
        job.tracker.trained(base_done, step, message_key="search.job.training", step=step,
                            steps=job.base.steps * recipe.scale, **shown)

    start = time.perf_counter()
    model, stats, budget = train_recipe(job, sd, recipe, on_step=on_step)
    job.counts["trained"] += 1
    job.tracker.done = base_done + job.tracker.train_seconds(budget.steps)
    job.reporter.update(message_key="search.job.scoring", force=True, **shown)
    t_eval = time.perf_counter()
    result = score(model, x, y, job.classes, job.device, job.tracker.evaluated)
    eval_s = time.perf_counter() - t_eval
    weights = job.out / WEIGHTS_DIR / f"{stem(recipe, sd.seed)}.pt"
    save_weights(weights, model)
    job.tracker.measured(stats.seconds, stats.steps or budget.steps, eval_s, len(x), 0, 0, 0)
    run = {"recipe": recipe.name, "stage": stage, "seed": sd.seed, "fingerprint": key,
           "settings": recipe.settings(job.prompts, job.base.steps, job.cfg.epochs, job.cfg.batch_size),
           "budget": {"scale": recipe.scale, "steps": budget.steps, "batch_size": budget.batch_size,
                      "samples": budget.samples},
           "stats": asdict(stats), "device": str(job.device),
           "usage": {"part": part, "n": len(x)}, "selection": result,
           "weights": str(weights.relative_to(job.out)), "seconds": round(time.perf_counter() - start, 2),
           "finished": time.time()}
    atomic_write_json(path, run)          # after its weights: a recorded run can always be scored again
    return run


def report_run(job, sd, recipe: Recipe, run: dict) -> dict:
    """Score ``recipe`` (its selection ``run`` at seed ``sd.seed``) once on the report part; returns the record
    (``final/<run>.json``, reused on resume)."""
    part, x, y, part_key = job.report_part(sd)
    key = key_of({"run": run["fingerprint"], "part": [part, part_key]})
    path = job.out / FINAL_DIR / f"{stem(recipe, sd.seed)}.json"
    old = read_json(path)
    if isinstance(old, dict) and old.get("fingerprint") == key:
        return old
    job.reporter.update(message_key="search.job.report", force=True, recipe=recipe.name, seed=sd.seed)
    model = load_model(job, job.out / run.get("weights", ""))
    if model is None:
        model, _, _ = train_recipe(job, sd, recipe)
    result = score(model, x, y, job.classes, job.device, lambda g, f: None)
    record = {"recipe": recipe.name, "condition": recipe.name, "seed": sd.seed, "fingerprint": key,
              "stage": "report", "usage": {"part": part, "n": len(x)}, "cross_domain": result,
              "finished": time.time()}
    atomic_write_json(path, record)
    return record
