"""Train & Compare: the same small fine-tune with and without GenMix, at a matched budget, several seeds.

CLI (headless; the Train page starts exactly this through ``genmix_core.jobs.start_process``)::

    python -m genmix_core.train --data DIR [--test DIR] --conditions baseline,genmix,mixup,cutmix \
        --epochs 5 --seeds 0,1,2 --out DIR [--edits GEN_RUN_DIR | --editor offline --prompt-set factory] \
        [--backbone efficientnet_lite0|small_cnn] [--finetune head|all] [--size 112] [--eps 1/255,2/255,4/255] \
        [--few-shot 1,2,5,10]

Steps:

1. Scan ``--data`` (class folders) and hold out a stratified ``--test-fraction`` of the *original* images
   (seeded by ``--split-seed``, recorded). GenMix images and edits of held-out originals are never trained on:
   they are matched to originals by content hash, so even a duplicate file cannot leak.
2. If ``genmix`` or ``edits`` is asked for and no ``--edits`` run is given, run the generation job
   (``genmix_core.generate``, offline style filter by default) into ``<out>/generation``.
3. For every (condition, seed): train under the shared :class:`~genmix_core.train.loop.Budget`, evaluate in-domain,
   on ``--test`` (second domain) and under FGSM/PGD, and write ``<out>/runs/<condition>_seed<seed>.json``
   atomically. A rerun with the same settings and the same data skips finished runs (resume after a crash or
   cancel). A run is keyed by the settings and by the content hashes of the photos it used (training
   originals, held-out, second domain, and the edits for the conditions that train on them:
   :func:`~genmix_core.train.data.data_parts`), so runs on photos that changed since are trained again, and
   ``results.json`` ``not_reused`` says why (shown on the Train page).
4. With ``--few-shot K,...``: for every k, (condition, seed) again on k originals per class of the training
   split (:func:`genmix_core.train.data.few_shot_subset`; edits only of those k; the same held-out test set;
   the same budget rule over the k × classes originals) into ``<out>/fewshot/k<k>/``, also resumable.
5. Aggregate mean ± std over seeds into ``<out>/results.json`` (rewritten after every run).

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
from genmix_core.jobconfig import read_stored_args, write_config
from genmix_core.jobs import JobReporter, request_cancel
from genmix_core.runclaim import claim_run_folder
from genmix_core.train.config import CompareConfig
from genmix_core.train.conditions import CONDITIONS, build_pool, edit_data_needed, needs_edits
from genmix_core.train.data import TrainingData, attach_edits, data_parts, few_shot_subset, prepare_data
from genmix_core.train.estimate import Tracker, job_tracker
from genmix_core.train.evaluate import evaluate_model, parse_eps
from genmix_core.train.loop import Budget, Cancelled, TrainConfig, pick_device, train_model
from genmix_core.train.models import build_model
from genmix_core.train.results import (RESULTS_FILE, class_counts, run_key, summarize, summarize_few_shot,
                                       why_not_reused)
from genmix_core.train.verdict import compute_verdict

RUNS_DIR = "runs"
GENERATION_DIR = "generation"
FEW_SHOT_DIR = "fewshot"
RESULTS_VERSION = 1


# --- the job -------------------------------------------------------------------------------------------------

def _stored_lam(cfg: CompareConfig) -> float:
    """λ of the stored GenMix images (used with ``redraw=False``): the fixed λ, else the middle of the range
    (0.2, the authors' value, for the default range)."""
    if cfg.lam is not None:
        return float(cfg.lam)
    low, high = cfg.lam_range
    return round((low + high) / 2, 6)


def generation_config(cfg: CompareConfig, train_rel: list[str] | None = None):
    """The :class:`~genmix_core.generate.GenerateConfig` of the comparison's generation step (``<out>/generation``).

    Only the training originals (``train_rel``) are edited (held-out ones would be dropped anyway), except in a
    generation folder begun before this option: keeping its arguments lets it resume.
    """
    from genmix_core.generate import GenerateConfig
    from genmix_core.prompts import DEFAULT_PROMPT_SET

    gen_dir = Path(cfg.out) / GENERATION_DIR
    prompt_set = cfg.prompt_set or (None if cfg.prompts else DEFAULT_PROMPT_SET)
    old = read_stored_args(gen_dir, GenerateConfig)
    fresh = old is None or "include" in old
    return GenerateConfig(data=cfg.data, out=str(gen_dir), prompts=list(cfg.prompts), editor=cfg.editor,
                          model=cfg.model, seed=cfg.gen_seed, mask_set=cfg.mask_set, lam=_stored_lam(cfg),
                          prompt_set=prompt_set, filters=cfg.filters or None, no_filter=cfg.no_filter,
                          include=list(train_rel) if fresh and train_rel is not None else None)


def check_drawable(cfg: CompareConfig, for_app: bool = False) -> None:
    """Refuse prompts the generation step's editor cannot draw, before the comparison starts (no-op when it
    takes its edits from an existing run or needs none).

    Raises:
        UserError: from :meth:`genmix_core.generate.GenerateConfig.check_drawable`.
    """
    if needs_edits(cfg.conditions) and not cfg.edits:
        generation_config(cfg.validated()).resolved().check_drawable(for_app)


def _generate(cfg: CompareConfig, reporter: JobReporter, train_rel: list[str], tracker: Tracker) -> Path:
    """Run (or resume) the generation job for the training folder into ``<out>/generation``."""
    from genmix_core.generate import run_generation

    gcfg = generation_config(cfg, train_rel)
    gen_dir = Path(gcfg.out)
    def progress(done: int, total: int | None = None) -> None:
        tracker.generated(done / total if total else 0.0, message_key="train.job.generating", done_items=done)
        if reporter.cancel_requested():
            request_cancel(gen_dir)

    summary = run_generation(gcfg, progress=progress)
    if summary.status != "done":
        raise Cancelled()
    return gen_dir


def _run_one(cfg: CompareConfig, data: TrainingData, condition: str, seed: int, budget: Budget,
             reporter: JobReporter, tracker: Tracker, few_shot_k: int | None = None,
             key: dict | None = None) -> dict:
    torch.manual_seed(seed)
    model = build_model(cfg.backbone, len(data.classes), size=cfg.size, finetune=cfg.finetune)
    mix_options = {"mask_set": cfg.mask_set,
                   **({"lam": cfg.lam} if cfg.lam is not None else {"lam_range": tuple(cfg.lam_range)})}
    pool = build_pool(data, condition, seed=seed, redraw=cfg.redraw, mix_options=mix_options)
    tcfg = TrainConfig(condition=condition, lr=cfg.learning_rate)
    device = pick_device(cfg.device)

    # The condition's catalog key, so the page shows its name in the reader's language (never the raw id).
    shown = {"condition_key": CONDITIONS[condition].label_key if condition in CONDITIONS else condition,
             "k": "" if few_shot_k is None else f" (k={few_shot_k})"}

    base = tracker.done

    def on_step(step: int, loss: float) -> None:
        tracker.trained(base, step, message_key="train.job.training", **shown,
                        seed=seed, step=step, steps=budget.steps, loss=f"{loss:.3f}")

    stats = train_model(model, pool, tcfg, budget, seed=seed, num_classes=len(data.classes), device=device,
                        on_step=on_step, should_stop=reporter.cancel_requested)
    tracker.done = base + tracker.train_seconds(budget.steps)
    reporter.update(message_key="train.job.evaluating", **shown, seed=seed, force=True)
    eps = parse_eps(cfg.eps)
    start = time.perf_counter()
    run = {"condition": condition, "seed": seed, **(key or {}), "train": tcfg.to_dict(),
           "budget": {"steps": budget.steps, "batch_size": budget.batch_size, "samples": budget.samples},
           "stats": asdict(stats), "device": str(device),
           "in_domain": evaluate_model(model, data.test_x, data.test_y, data.classes, eps=eps,
                                       pgd_steps=cfg.pgd_steps, device=device, seed=seed,
                                       on_work=tracker.evaluated)}
    in_domain_s = time.perf_counter() - start
    if data.cross_x is not None:
        run["cross_domain"] = evaluate_model(model, data.cross_x, data.cross_y, data.classes, attacks=(),
                                             device=device, on_work=tracker.evaluated)
    run["eval_seconds"] = time.perf_counter() - start
    run["eval_in_domain_seconds"] = in_domain_s
    run["finished"] = time.time()
    tracker.measured(stats.seconds, budget.steps, run["eval_seconds"], len(data.test_x),
                     0 if data.cross_x is None else len(data.cross_x), len(eps), cfg.pgd_steps)
    if few_shot_k is not None:
        run["few_shot"] = {"k": few_shot_k, "n_train": len(data.train), "train_images": data.train["rel"].tolist(),
                           "n_edits": 0 if data.edits is None else len(data.edits)}
    return run


def _few_shot_budget(cfg: CompareConfig, data: TrainingData, k: int) -> Budget:
    """The usual budget rule over the k-per-class originals (the same for every seed: class sizes cap k)."""
    n = int(sum(min(k, c) for c in data.train["label"].value_counts()))
    return Budget.for_epochs(n, cfg.epochs, cfg.batch_size)


def _few_shot_results(cfg: CompareConfig, data: TrainingData, runs: dict[int, list[dict]]) -> dict | None:
    if not cfg.few_shot:
        return None
    points = {}
    for k in cfg.few_shot:
        b = _few_shot_budget(cfg, data, k)
        points[str(k)] = {"budget": {"steps": b.steps, "batch_size": b.batch_size, "samples": b.samples},
                          "n_train": int(sum(min(k, c) for c in data.train["label"].value_counts())),
                          "conditions": summarize_few_shot(runs.get(k, []), cfg.conditions, data.classes)}
    return {"ks": list(cfg.few_shot), "epochs": cfg.epochs, "conditions": list(cfg.conditions), "points": points,
            "rule": "k originals per class drawn per seed from the training split (nested over k); GenMix images "
                    "and edits only of those originals; the same held-out test set for every k; budget: "
                    "epochs over the k x classes originals, the same steps for every condition"}


def _results(cfg: CompareConfig, data: TrainingData, budget: Budget, runs: list[dict], status: str,
             generation: dict | None, few_runs: dict[int, list[dict]] | None = None,
             timings: dict | None = None, not_reused: list[dict] | None = None) -> dict:
    return {
        "version": RESULTS_VERSION, "kind": "train", "status": status, "updated": time.time(),
        "config": asdict(cfg), "fingerprint": cfg.fingerprint(), "classes": data.classes,
        "data": data_parts(data), "not_reused": not_reused or [],
        "eps": [label for label, _ in parse_eps(cfg.eps)],
        "budget": {"steps": budget.steps, "batch_size": budget.batch_size, "samples": budget.samples,
                   "epochs": cfg.epochs, "n_train_originals": len(data.train),
                   "basis": "epochs over the original training images; the same steps and samples for every "
                            "condition, whatever its pool size"},
        "split": {"seed": cfg.split_seed, "test_fraction": cfg.test_fraction, "n_train": len(data.train),
                  "n_test": len(data.test), "by": "original image (content hash)",
                  "test_images": data.test["rel"].tolist()},
        "cross_domain": ({"path": cfg.test, "n": len(data.cross)} if data.cross is not None else None),
        "generation": generation,
        "counts": class_counts(data),
        "conditions": summarize(runs, cfg.conditions, data.classes),
        "verdict": compute_verdict(runs, cfg.conditions),
        "runs": runs,
        "few_shot": _few_shot_results(cfg, data, few_runs or {}),
        "timings": timings or {},
    }


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
    t0 = time.perf_counter()
    data = prepare_data(cfg.data, size=cfg.size, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed,
                        test_dir=cfg.test)
    timings = {"prepare_s": round(time.perf_counter() - t0, 2)}
    tracker = job_tracker(cfg, data, reporter,
                          generation_config(cfg) if needs_edits(cfg.conditions) and not cfg.edits else None)
    generation = None
    if needs_edits(cfg.conditions):
        t0 = time.perf_counter()
        gen_dir = Path(cfg.edits) if cfg.edits else _generate(cfg, reporter, data.train["rel"].tolist(), tracker)
        tracker.generation_finished()
        wanted = edit_data_needed(cfg.conditions, cfg.redraw)
        attach_edits(data, gen_dir, raw="raw" in wanted, mixed="mixed" in wanted)
        timings["generation_s"] = round(time.perf_counter() - t0, 2)
        # Which editor made the edits, so a report can say whether they are diffusion edits (honest labels).
        from genmix_core.generate import GenerateConfig

        made_by = read_stored_args(gen_dir, GenerateConfig) or {}
        generation = {"path": str(gen_dir), "n_edits": len(data.edits), "editor": made_by.get("editor"),
                      "model": made_by.get("model")}
    budget = Budget.for_epochs(len(data.train), cfg.epochs, cfg.batch_size)
    runs_dir = out / RUNS_DIR
    parts = data_parts(data)
    # One list of (k or None, condition, seed): the full-data runs, then the few-shot ones, smallest k first.
    planned = [(None, c, s) for c in cfg.conditions for s in cfg.seeds]
    planned += [(k, c, s) for k in cfg.few_shot for c in cfg.conditions for s in cfg.seeds]
    runs, few_runs, todo, not_reused = [], {k: [] for k in cfg.few_shot}, [], []

    def path_of(k, cond, seed):
        folder = runs_dir if k is None else out / FEW_SHOT_DIR / f"k{k}"
        return folder / f"{cond}_seed{seed}.json"

    def keep(k, run):
        (runs if k is None else few_runs[k]).append(run)

    for k, cond, seed in planned:
        path = path_of(k, cond, seed)
        old, key = read_json(path), run_key(cfg, parts, cond, k)
        if isinstance(old, dict) and old.get("fingerprint") == key["fingerprint"]:
            keep(k, old)
            continue
        todo.append((k, cond, seed, key))
        if isinstance(old, dict):
            not_reused.append({"condition": cond, "seed": seed, "k": k,
                               **why_not_reused(old, key, path.stat().st_mtime)})
    budgets = {k: (budget if k is None else _few_shot_budget(cfg, data, k)) for k in [None, *cfg.few_shot]}
    tracker.plan(0.0, [tracker.run_seconds(budgets[k].steps) for k, _, _, _ in todo])
    status = "running"

    def results() -> dict:
        return _results(cfg, data, budget, runs, status, generation, few_runs, timings, not_reused)

    atomic_write_json(out / RESULTS_FILE, results())
    try:
        for k, cond, seed, key in todo:
            run_data = data if k is None else few_shot_subset(data, k, seed)
            run = _run_one(cfg, run_data, cond, seed, budgets[k], reporter, tracker, few_shot_k=k, key=key)
            atomic_write_json(path_of(k, cond, seed), run)
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
        runs.sort(key=lambda r: (cfg.conditions.index(r["condition"]), r["seed"]))
        final = results()
        try:
            atomic_write_json(out / RESULTS_FILE, final)
        except UserError:
            if status != "failed":   # a full disk: the error that stopped the run is the one to report
                raise
        if own_reporter:  # main() reports the outcome itself (with the error text)
            reporter.finish(status)
    return final
