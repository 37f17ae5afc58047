"""Train & Compare: the same small fine-tune with and without GenMix, at a matched budget, several seeds.

CLI (headless; the Train page starts exactly this through ``genmix_core.jobs.start_process``)::

    python -m genmix_core.compare --data DIR [--test DIR] --conditions baseline,genmix,mixup,cutmix \
        --epochs 5 --seeds 0,1,2 --out DIR [--edits GEN_RUN_DIR | --editor offline --prompt-set factory] \
        [--backbone efficientnet_lite0|small_cnn] [--finetune head|all] [--size 112] [--eps 1/255,2/255,4/255] \
        [--few-shot 1,2,5,10]

Steps:

1. Scan ``--data`` (class folders) and hold out a stratified ``--test-fraction`` of the *original* images
   (seeded by ``--split-seed``, recorded). GenMix images and edits of held-out originals are never trained on:
   they are matched to originals by content hash, so even a duplicate file cannot leak.
2. If ``genmix`` or ``edits`` is asked for and no ``--edits`` run is given, run the generation job
   (``genmix_core.generate``, offline style filter by default) into ``<out>/generation``.
3. For every (condition, seed): train under the shared :class:`~genmix_core.train.Budget`, evaluate in-domain,
   on ``--test`` (second domain) and under FGSM/PGD, and write ``<out>/runs/<condition>_seed<seed>.json``
   atomically. A rerun with the same settings skips finished runs (resume after a crash or cancel).
4. With ``--few-shot K,...``: for every k, (condition, seed) again on k originals per class of the training
   split (:func:`genmix_core.train_data.few_shot_subset`; edits only of those k; the same held-out test set;
   the same budget rule over the k × classes originals) into ``<out>/fewshot/k<k>/``, also resumable.
5. Aggregate mean ± std over seeds into ``<out>/results.json`` (rewritten after every run).

Progress goes to ``<out>/job.json`` (``genmix_core.jobs``); a ``CANCEL`` file stops between two steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from genmix_core.errors import UserError
from genmix_core.evaluate import DEFAULT_EPS, evaluate_model, parse_eps
from genmix_core.fileio import atomic_write_json, read_json
from genmix_core.jobs import JobReporter, request_cancel
from genmix_core.mixing import DEFAULT_LAM_RANGE, check_lam_range
from genmix_core.mixing.masks import check_fraction
from genmix_core.models import BACKBONES, FINETUNE_MODES, build_model
from genmix_core.seeds import content_key
from genmix_core.train import CONDITIONS, NEEDS_EDITS, Budget, Cancelled, TrainConfig, pick_device, train_model
from genmix_core.results import (RESULTS_FILE, format_table, list_train_runs, load_results,  # noqa: F401
                                  summarize, summarize_few_shot)
from genmix_core.train_data import TrainingData, attach_edits, build_pool, few_shot_subset, prepare_data

CONFIG_FILE = "config.json"
RUNS_DIR = "runs"
GENERATION_DIR = "generation"
FEW_SHOT_DIR = "fewshot"
RESULTS_VERSION = 1
DEFAULT_LR = {"head": 3e-3, "all": 5e-4, "small_cnn": 3e-3}


@dataclass
class CompareConfig:
    """Every setting of a comparison (stored in ``results.json``; a change invalidates finished runs)."""

    data: str
    out: str
    test: str | None = None
    conditions: list[str] = field(default_factory=lambda: ["baseline", "genmix"])
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int = 5
    batch_size: int = 32
    backbone: str = "efficientnet_lite0"
    finetune: str = "head"
    size: int = 112
    lr: float | None = None
    eps: list[str] = field(default_factory=lambda: list(DEFAULT_EPS))
    pgd_steps: int = 10
    test_fraction: float = 0.2
    split_seed: int = 0
    edits: str | None = None
    editor: str = "offline"
    model: str | None = None
    prompts: list[str] = field(default_factory=list)
    prompt_set: str | None = None
    gen_seed: int = 0
    redraw: bool = True
    mask_set: str = "genmix"
    lam: float | None = None
    lam_range: list[float] | None = None
    device: str = "auto"
    few_shot: list[int] = field(default_factory=list)

    def validated(self) -> "CompareConfig":
        """A checked copy with absolute paths. Raises ``UserError`` (``err.train.*``) naming the bad value."""
        cfg = CompareConfig(**asdict(self))
        for name in ("data", "out", "test", "edits"):
            if getattr(cfg, name):
                setattr(cfg, name, str(Path(getattr(cfg, name)).expanduser().resolve()))
        for name in ("data", "test", "edits"):
            if getattr(cfg, name) and not Path(getattr(cfg, name)).is_dir():
                raise UserError("err.train.no_folder", name=name, path=getattr(cfg, name))
        bad = [c for c in cfg.conditions if c not in CONDITIONS]
        if bad or not cfg.conditions:
            raise UserError("err.train.bad_condition", value=",".join(bad) or "(none)",
                            choices=", ".join(CONDITIONS))
        cfg.conditions = list(dict.fromkeys(cfg.conditions))
        cfg.seeds = list(dict.fromkeys(int(s) for s in cfg.seeds))
        if not cfg.seeds:
            raise UserError("err.train.not_positive", name="seeds", value="(none)")
        for name in ("epochs", "batch_size", "pgd_steps"):
            if int(getattr(cfg, name)) < 1:
                raise UserError("err.train.not_positive", name=name.replace("_", "-"), value=getattr(cfg, name))
        if cfg.backbone not in BACKBONES:
            raise UserError("err.train.bad_backbone", value=cfg.backbone, choices=", ".join(BACKBONES))
        if cfg.finetune not in FINETUNE_MODES:
            raise UserError("err.train.bad_finetune", value=cfg.finetune, choices=", ".join(FINETUNE_MODES))
        if not 16 <= int(cfg.size) <= 512:
            raise UserError("err.train.bad_size", value=cfg.size)
        if not 0.0 < cfg.test_fraction < 1.0:
            raise UserError("err.train.bad_fraction", value=cfg.test_fraction)
        parse_eps(cfg.eps)
        # λ of the re-drawn mixes: fixed with --lam, else drawn per mix from a range (recorded, default
        # DEFAULT_LAM_RANGE). The stored GenMix images of the generation step always use one fixed λ.
        if cfg.lam is not None:
            if cfg.lam_range is not None:
                raise UserError("err.train.lam_and_range", lam=cfg.lam, range=cfg.lam_range)
            cfg.lam = check_fraction("lam", cfg.lam)
        else:
            cfg.lam_range = list(check_lam_range(DEFAULT_LAM_RANGE if cfg.lam_range is None else cfg.lam_range))
        try:
            cfg.few_shot = sorted({int(k) for k in cfg.few_shot})
        except (TypeError, ValueError):
            raise UserError("err.train.bad_few_shot", value=",".join(map(str, cfg.few_shot))) from None
        if cfg.few_shot and cfg.few_shot[0] < 1:
            raise UserError("err.train.bad_few_shot", value=",".join(map(str, cfg.few_shot)))
        return cfg

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return DEFAULT_LR["small_cnn" if self.backbone == "small_cnn" else self.finetune]

    def fingerprint(self) -> str:
        """Key of everything that changes a run's result (not the output folder, device or condition list)."""
        # few_shot only adds runs (with their own key, see few_shot_fingerprint): it never invalidates these.
        keep = {k: v for k, v in asdict(self).items()
                if k not in ("out", "conditions", "seeds", "device", "few_shot")}
        return content_key(keep)

    def few_shot_fingerprint(self, k: int) -> str:
        """Key of a few-shot run at ``k`` originals per class."""
        return content_key({"compare": self.fingerprint(), "few_shot_k": int(k)})




# --- the job -------------------------------------------------------------------------------------------------

def _stored_lam(cfg: CompareConfig) -> float:
    """λ of the stored GenMix images (used with ``redraw=False``): the fixed λ, else the middle of the range
    (0.2, the authors' value, for the default range)."""
    if cfg.lam is not None:
        return float(cfg.lam)
    low, high = cfg.lam_range
    return round((low + high) / 2, 6)


def _generate(cfg: CompareConfig, reporter: JobReporter, train_rel: list[str]) -> Path:
    """Run (or resume) the generation job for the training folder into ``<out>/generation``."""
    from genmix_core.generate import GenerateConfig, run_generation

    gen_dir = Path(cfg.out) / GENERATION_DIR
    prompt_set = cfg.prompt_set or (None if cfg.prompts else "factory")
    # Only the training originals are edited (held-out ones would be dropped anyway), except in a generation
    # folder begun before this option: keeping its arguments lets it resume.
    old = read_json(gen_dir / "config.json")
    fresh = not (isinstance(old, dict) and isinstance(old.get("args"), dict) and "include" not in old["args"])
    gcfg = GenerateConfig(data=cfg.data, out=str(gen_dir), prompts=list(cfg.prompts), editor=cfg.editor,
                          model=cfg.model, seed=cfg.gen_seed, mask_set=cfg.mask_set, lam=_stored_lam(cfg),
                          prompt_set=prompt_set, include=list(train_rel) if fresh else None)
    def progress(done: int, total: int | None = None) -> None:
        reporter.update(done=done, total=total, message_key="train.job.generating", done_items=done)
        if reporter.cancel_requested():
            request_cancel(gen_dir)

    summary = run_generation(gcfg, progress=progress)
    if summary.status != "done":
        raise Cancelled()
    return gen_dir


def _run_one(cfg: CompareConfig, data: TrainingData, condition: str, seed: int, budget: Budget,
             reporter: JobReporter, done_before: int, few_shot_k: int | None = None) -> dict:
    torch.manual_seed(seed)
    model = build_model(cfg.backbone, len(data.classes), size=cfg.size, finetune=cfg.finetune)
    mix_options = {"mask_set": cfg.mask_set,
                   **({"lam": cfg.lam} if cfg.lam is not None else {"lam_range": tuple(cfg.lam_range)})}
    pool = build_pool(data, condition, seed=seed, redraw=cfg.redraw, mix_options=mix_options)
    tcfg = TrainConfig(condition=condition, lr=cfg.learning_rate)
    device = pick_device(cfg.device)

    shown = condition if few_shot_k is None else f"{condition} (k={few_shot_k})"

    def on_step(step: int, loss: float) -> None:
        reporter.update(done=done_before + step, message_key="train.job.training", condition=shown,
                        seed=seed, step=step, steps=budget.steps, loss=f"{loss:.3f}")

    stats = train_model(model, pool, tcfg, budget, seed=seed, num_classes=len(data.classes), device=device,
                        on_step=on_step, should_stop=reporter.cancel_requested)
    reporter.update(message_key="train.job.evaluating", condition=shown, seed=seed, force=True)
    eps = parse_eps(cfg.eps)
    start = time.perf_counter()
    fingerprint = cfg.fingerprint() if few_shot_k is None else cfg.few_shot_fingerprint(few_shot_k)
    run = {"condition": condition, "seed": seed, "fingerprint": fingerprint, "train": tcfg.to_dict(),
           "budget": {"steps": budget.steps, "batch_size": budget.batch_size, "samples": budget.samples},
           "stats": asdict(stats), "device": str(device),
           "in_domain": evaluate_model(model, data.test_x, data.test_y, data.classes, eps=eps,
                                       pgd_steps=cfg.pgd_steps, device=device, seed=seed)}
    in_domain_s = time.perf_counter() - start
    if data.cross_x is not None:
        run["cross_domain"] = evaluate_model(model, data.cross_x, data.cross_y, data.classes, attacks=(),
                                             device=device)
    run["eval_seconds"] = time.perf_counter() - start
    run["eval_in_domain_seconds"] = in_domain_s
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
             timings: dict | None = None) -> dict:
    return {
        "version": RESULTS_VERSION, "kind": "train", "status": status, "updated": time.time(),
        "config": asdict(cfg), "fingerprint": cfg.fingerprint(), "classes": data.classes,
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
        "conditions": summarize(runs, cfg.conditions, data.classes),
        "runs": runs,
        "few_shot": _few_shot_results(cfg, data, few_runs or {}),
        "timings": timings or {},
    }


def run_compare(cfg: CompareConfig, reporter: JobReporter | None = None) -> dict:
    """Run (or resume) the whole comparison into ``cfg.out``; returns the results dict (also on disk).

    Raises:
        UserError: bad settings or data (``err.train.*``, or ``err.gen.*`` from the generation step).
        Cancelled: when a ``CANCEL`` file stopped it (finished runs stay on disk; ``status`` ``"cancelled"``).
    """
    cfg = cfg.validated()
    out = Path(cfg.out)
    own_reporter = reporter is None
    reporter = reporter or JobReporter(out, kind="train")
    atomic_write_json(out / CONFIG_FILE, {"kind": "train", "args": asdict(cfg)})
    reporter.update(message_key="train.job.loading", force=True)
    t0 = time.perf_counter()
    data = prepare_data(cfg.data, size=cfg.size, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed,
                        test_dir=cfg.test)
    timings = {"prepare_s": round(time.perf_counter() - t0, 2)}
    generation = None
    if any(c in NEEDS_EDITS for c in cfg.conditions):
        t0 = time.perf_counter()
        gen_dir = Path(cfg.edits) if cfg.edits else _generate(cfg, reporter, data.train["rel"].tolist())
        attach_edits(data, gen_dir, raw=cfg.redraw or "edits" in cfg.conditions,
                     mixed=not cfg.redraw and "genmix" in cfg.conditions)
        timings["generation_s"] = round(time.perf_counter() - t0, 2)
        # Which editor made the edits, so a report can say whether they are diffusion edits (honest labels).
        gen_config = read_json(gen_dir / "config.json")
        made_by = gen_config.get("args") if isinstance(gen_config, dict) else None
        made_by = made_by if isinstance(made_by, dict) else {}
        generation = {"path": str(gen_dir), "n_edits": len(data.edits), "editor": made_by.get("editor"),
                      "model": made_by.get("model")}
    budget = Budget.for_epochs(len(data.train), cfg.epochs, cfg.batch_size)
    runs_dir = out / RUNS_DIR
    # One list of (k or None, condition, seed): the full-data runs, then the few-shot ones, smallest k first.
    planned = [(None, c, s) for c in cfg.conditions for s in cfg.seeds]
    planned += [(k, c, s) for k in cfg.few_shot for c in cfg.conditions for s in cfg.seeds]
    runs, few_runs, todo = [], {k: [] for k in cfg.few_shot}, []

    def path_of(k, cond, seed):
        folder = runs_dir if k is None else out / FEW_SHOT_DIR / f"k{k}"
        return folder / f"{cond}_seed{seed}.json"

    def keep(k, run):
        (runs if k is None else few_runs[k]).append(run)

    for k, cond, seed in planned:
        old = read_json(path_of(k, cond, seed))
        fp = cfg.fingerprint() if k is None else cfg.few_shot_fingerprint(k)
        if isinstance(old, dict) and old.get("fingerprint") == fp:
            keep(k, old)
        else:
            todo.append((k, cond, seed))
    budgets = {k: (budget if k is None else _few_shot_budget(cfg, data, k)) for k in [None, *cfg.few_shot]}
    reporter.update(done=0, total=sum(budgets[k].steps for k, _, _ in todo), force=True)
    status = "running"
    atomic_write_json(out / RESULTS_FILE, _results(cfg, data, budget, runs, status, generation, few_runs, timings))
    try:
        done = 0
        for k, cond, seed in todo:
            run_data = data if k is None else few_shot_subset(data, k, seed)
            run = _run_one(cfg, run_data, cond, seed, budgets[k], reporter, done, few_shot_k=k)
            done += budgets[k].steps
            atomic_write_json(path_of(k, cond, seed), run)
            keep(k, run)
            atomic_write_json(out / RESULTS_FILE,
                              _results(cfg, data, budget, runs, status, generation, few_runs, timings))
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
        results = _results(cfg, data, budget, runs, status, generation, few_runs, timings)
        atomic_write_json(out / RESULTS_FILE, results)
        if own_reporter:  # main() reports the outcome itself (with the error text)
            reporter.finish(status)
    return results


def load_config(run_dir: str | Path) -> CompareConfig:
    """The settings a run folder was started with (to resume it).

    Raises:
        UserError: ``err.train.not_results`` when the folder holds no Train & Compare run.
    """
    data = read_json(Path(run_dir) / CONFIG_FILE)
    if not isinstance(data, dict) or data.get("kind") != "train" or not isinstance(data.get("args"), dict):
        raise UserError("err.train.not_results", path=str(run_dir))
    return CompareConfig(**data["args"])


if __name__ == "__main__":
    from genmix_core.compare_cli import main

    raise SystemExit(main())
