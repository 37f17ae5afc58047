"""Train & Compare: the same small fine-tune with and without GenMix, at a matched budget, several seeds.

CLI (headless; the Train page starts exactly this through ``genmix_core.jobs.start_process``)::

    python -m genmix_core.train --data DIR [--test DIR] --conditions baseline,genmix,mixup,cutmix \
        --epochs 5 --seeds 0,1,2 --out DIR [--edits GEN_RUN_DIR | --editor offline --prompt-set factory] \
        [--backbone efficientnet_lite0|small_cnn] [--finetune head|all] [--size 112] [--eps 1/255,2/255,4/255] \
        [--few-shot 1,2,5,10]

Steps:

1. For every seed (:mod:`genmix_core.train.seeddata`): scan ``--data`` (class folders) and hold out a
   stratified ``--test-fraction`` of the *original* images, drawn by that seed (and, as asked, a validation
   split for ``--early-stop`` and a validation part of ``--test``). GenMix images and edits of held-out
   originals are never trained on: they are matched to originals by content hash, so even a duplicate file
   cannot leak. If a condition needs edits and no ``--edits`` run is given, run that seed's generation job
   (``genmix_core.generate``, offline style filter by default) into ``<out>/generation/seed<seed>``.
2. For every arm (condition × budget: ``--steps-scale``, ``--protocols``; :mod:`genmix_core.train.arms`) and
   seed: train, evaluate in-domain, on ``--test`` (second domain) and under FGSM/PGD, and write
   ``<out>/runs/<arm>_seed<seed>.json`` atomically. A rerun with the same settings and the same data skips finished runs (resume after a crash or
   cancel). A run is keyed by the settings and by the content hashes of the photos it used (training
   originals, held-out, second domain, and the edits for the conditions that train on them:
   :func:`~genmix_core.train.data.data_parts`), so runs on photos that changed since are trained again, and
   ``results.json`` ``not_reused`` says why (shown on the Train page).
3. With ``--few-shot K,...``: for every k, (condition, seed) again on k originals per class of the training
   split (:func:`genmix_core.train.data.few_shot_subset`; edits only of those k; the same held-out test set;
   the same budget rule over the k × classes originals) into ``<out>/fewshot/k<k>/``, also resumable.
4. Aggregate mean ± std over seeds and paired differences against the baseline of the same budget, with
   t-intervals (:func:`genmix_core.train.stats.paired_interval`), into ``<out>/results.json`` (rewritten
   after every run).

Progress goes to ``<out>/job.json`` (``genmix_core.jobs``); a ``CANCEL`` file stops between two steps. One
process at a time works in a run folder (:func:`genmix_core.runclaim.claim_run_folder`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json, read_json
from genmix_core.jobconfig import write_config
from genmix_core.jobs import JobReporter
from genmix_core.runclaim import claim_run_folder
from genmix_core.train.arms import Arm, file_stem, plan_arms
from genmix_core.train.conditions import CONDITIONS, build_pool, get_condition
from genmix_core.train.config import CompareConfig
from genmix_core.train.data import TrainingData, data_parts
from genmix_core.train.estimate import Tracker, job_tracker
from genmix_core.train.evaluate import evaluate_model, parse_eps, predict
from genmix_core.train.fewshot import few_shot_budget, few_shot_subset
from genmix_core.train.loop import Budget, Cancelled, TrainConfig, pick_device, train_model
from genmix_core.train.models import build_model
from genmix_core.train.results import RESULTS_FILE, assemble_results, run_key, why_not_reused
from genmix_core.train.seeddata import SeedData, add_edits, generating, generation_config, split_seed

RUNS_DIR = "runs"
FEW_SHOT_DIR = "fewshot"


def check_drawable(cfg: CompareConfig, for_app: bool = False) -> None:
    """Refuse prompts the generation step's editor cannot draw, before the comparison starts (no-op when it
    takes its edits from an existing run or needs none). Every seed's generation uses the same prompts and
    editor, so the first seed's settings stand for all.

    Raises:
        UserError: from :meth:`genmix_core.generate.GenerateConfig.check_drawable`.
    """
    cfg = cfg.validated()
    if generating(cfg):
        generation_config(cfg, cfg.seeds[0]).resolved().check_drawable(for_app)


def _pool_size(data: TrainingData, condition: str) -> int:
    extra = len(data.edits) if get_condition(condition).needs_edits and data.edits is not None else 0
    return len(data.train) + extra


def _run_one(cfg: CompareConfig, sd: SeedData, data: TrainingData, arm: Arm, budget: Budget,
             reporter: JobReporter, tracker: Tracker, few_shot_k: int | None = None,
             key: dict | None = None) -> dict:
    seed, condition = sd.seed, arm.condition
    torch.manual_seed(seed)
    model = build_model(cfg.backbone, len(data.classes), size=cfg.size, finetune=cfg.finetune)
    mix_options = {"mask_set": cfg.mask_set,
                   **({"lam": cfg.lam} if cfg.lam is not None else {"lam_range": tuple(cfg.lam_range)})}
    pool = build_pool(data, condition, seed=seed, redraw=cfg.redraw, mix_options=mix_options)
    tcfg = TrainConfig(condition=condition, lr=cfg.learning_rate)
    device = pick_device(cfg.device)

    # The condition's catalog key, so the page shows its name in the reader's language (never the raw id); the
    # arm's budget (@x4, @epochs) and the few-shot k follow it.
    suffix = arm.label[len(condition):] + ("" if few_shot_k is None else f" (k={few_shot_k})")
    shown = {"condition_key": CONDITIONS[condition].label_key if condition in CONDITIONS else condition,
             "k": suffix}

    base = tracker.done

    def on_step(step: int, loss: float) -> None:
        tracker.trained(base, step, message_key="train.job.training", **shown,
                        seed=seed, step=step, steps=budget.steps, loss=f"{loss:.3f}")

    early = {}
    if cfg.early_stop and data.val_x is not None:
        early = {"validate": lambda m: float((predict(m, data.val_x, device=device) == data.val_y.numpy()).mean()),
                 "eval_every": -(-len(data.train) // budget.batch_size), "patience": cfg.early_stop}
    stats = train_model(model, pool, tcfg, budget, seed=seed, num_classes=len(data.classes), device=device,
                        on_step=on_step, should_stop=reporter.cancel_requested, **early)
    tracker.done = base + tracker.train_seconds(budget.steps)
    reporter.update(message_key="train.job.evaluating", **shown, seed=seed, force=True)
    eps = parse_eps(cfg.eps)
    start = time.perf_counter()
    run = {"condition": condition, "arm": arm.label, "arm_info": arm.to_dict(), "seed": seed,
           "seeds": sd.seeds, **(key or {}), "train": tcfg.to_dict(),
           "budget": {"steps": budget.steps, "batch_size": budget.batch_size, "samples": budget.samples},
           "stats": asdict(stats), "device": str(device),
           "in_domain": evaluate_model(model, data.test_x, data.test_y, data.classes, eps=eps,
                                       pgd_steps=cfg.pgd_steps, restarts=cfg.pgd_restarts, device=device,
                                       seed=seed, on_work=tracker.evaluated)}
    in_domain_s = time.perf_counter() - start
    n_cross = 0
    for part, x, y in (("cross_domain", data.cross_x, data.cross_y), ("cross_val", data.cross_val_x,
                                                                        data.cross_val_y)):
        if x is not None:
            run[part] = evaluate_model(model, x, y, data.classes, attacks=(), device=device,
                                       on_work=tracker.evaluated)
            n_cross += len(x)
    run["eval_seconds"] = time.perf_counter() - start
    run["eval_in_domain_seconds"] = in_domain_s
    run["finished"] = time.time()
    tracker.measured(stats.seconds, stats.steps if stats.steps else budget.steps, run["eval_seconds"],
                     len(data.test_x), n_cross, len(eps), cfg.pgd_steps, cfg.pgd_restarts)
    if few_shot_k is not None:
        run["few_shot"] = {"k": few_shot_k, "n_train": len(data.train), "train_images": data.train["rel"].tolist(),
                           "n_edits": 0 if data.edits is None else len(data.edits)}
    return run


def _prefetch_fractals(cfg: CompareConfig, seeds: dict[int, SeedData], todo: list) -> None:
    """On a GPU, start rendering the fractal pool of the first run that blends fractals, so that it is ready when
    that run starts: the runs before it (the baseline) keep the GPU busy and leave the CPU cores idle. On a CPU
    the renders would only take cores from those runs (and make their recorded times unfair), so nothing starts."""
    if pick_device(cfg.device).type == "cpu":
        return
    for _k, arm, seed, _key, _budget in todo:
        if get_condition(arm.condition).draws_fractals(cfg.redraw):
            from genmix_core.mixing import fractal_pool_seeds, prefetch_fractal_bank

            height, width = seeds[seed].data.train_images.shape[1:3]
            prefetch_fractal_bank(fractal_pool_seeds(seed), height, width)
            return


def run_compare(cfg: CompareConfig, reporter: JobReporter | None = None) -> dict:
    """Run (or resume) the whole comparison into ``cfg.out``; returns the results dict (also on disk).

    Raises:
        UserError: bad settings or data (``err.train.*``, or ``err.gen.*`` from the generation step), a disk or
            permission failure (``err.io.*``).
        genmix_core.runclaim.AlreadyRunning: another live process works in ``cfg.out``.
        Cancelled: when a ``CANCEL`` file stopped it (finished runs stay on disk; ``status`` ``"cancelled"``).
    """
    cfg = cfg.validated()
    with claim_run_folder(cfg.out, "err.train.already_running"):
        return _compare(cfg, reporter)


def _compare(cfg: CompareConfig, reporter: JobReporter | None) -> dict:
    out = Path(cfg.out)
    own_reporter = reporter is None
    reporter = reporter or JobReporter(out, kind="train")
    write_config(out, cfg)
    reporter.update(message_key="train.job.loading", force=True)
    # Every seed's split, then the plan (and its time), then every seed's generation, then the runs.
    seeds = {s: split_seed(cfg, s) for s in cfg.seeds}
    first = seeds[cfg.seeds[0]].data
    gens = [generation_config(cfg, s, seeds[s].data.train["rel"].tolist()) for s in cfg.seeds] \
        if generating(cfg) else []
    tracker = job_tracker(cfg, first, reporter, gens)
    for i, s in enumerate(cfg.seeds):
        if gens:
            tracker.generation_started(tracker.gen_parts[i])
        add_edits(cfg, seeds[s], reporter, tracker)
        tracker.generation_finished()
    base = Budget.for_epochs(len(first.train), cfg.epochs, cfg.batch_size)
    arms = plan_arms(cfg.conditions, cfg.steps_scale, cfg.protocols)
    planned = [(None, arm, s) for s in cfg.seeds for arm in arms]
    planned += [(k, Arm(c), s) for k in cfg.few_shot for s in cfg.seeds for c in cfg.conditions]
    runs, few_runs, todo, not_reused = [], {k: [] for k in cfg.few_shot}, [], []

    def path_of(k, arm, seed):
        folder = out / RUNS_DIR if k is None else out / FEW_SHOT_DIR / f"k{k}"
        return folder / f"{file_stem(arm, seed)}.json"

    def keep(k, run):
        (runs if k is None else few_runs[k]).append(run)

    def budget_of(k, arm, seed):
        data = seeds[seed].data
        if k is not None:
            return few_shot_budget(cfg, data, k)
        return arm.budget(base, _pool_size(data, arm.condition), cfg.epochs)

    for k, arm, seed in planned:
        path, budget = path_of(k, arm, seed), budget_of(k, arm, seed)
        parts = data_parts(seeds[seed].data)
        old = read_json(path)
        key = run_key(cfg, parts, arm.condition, k, arm=arm.to_dict())   # its steps follow from config + data
        if isinstance(old, dict) and old.get("fingerprint") == key["fingerprint"]:
            keep(k, old)
            continue
        todo.append((k, arm, seed, key, budget))
        if isinstance(old, dict):
            not_reused.append({"condition": arm.label, "seed": seed, "k": k,
                               **why_not_reused(old, key, path.stat().st_mtime)})
    tracker.plan(0.0, [tracker.run_seconds(b.steps) for *_, b in todo])
    status = "running"

    def results() -> dict:
        return assemble_results(cfg, seeds, base, arms, runs, status, few_runs, not_reused)

    atomic_write_json(out / RESULTS_FILE, results())
    _prefetch_fractals(cfg, seeds, todo)
    try:
        for k, arm, seed, key, budget in todo:
            sd = seeds[seed]
            run_data = sd.data if k is None else few_shot_subset(sd.data, k, seed)
            run = _run_one(cfg, sd, run_data, arm, budget, reporter, tracker, few_shot_k=k, key=key)
            atomic_write_json(path_of(k, arm, seed), run)
            keep(k, run)
            atomic_write_json(out / RESULTS_FILE, results())
        status = "done"
        reporter.update(done=reporter.state.total, message_key="train.job.done", force=True)
    except Cancelled:
        status = "cancelled"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        final = results()
        try:
            atomic_write_json(out / RESULTS_FILE, final)
        except UserError:
            if status != "failed":   # a full disk: the error that stopped the run is the one to report
                raise
        if own_reporter:  # main() reports the outcome itself (with the error text)
            reporter.finish(status)
    return final
