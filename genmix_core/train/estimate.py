"""How long a Train & Compare run takes on this machine: before it starts, and while it runs.

Work is counted in three kinds of image passes, each with a cost in seconds per megapixel measured here:

* ``step``: one training sample (forward and backward through what trains),
* ``grad``: one image's input gradient (each FGSM/PGD attack step during evaluation),
* ``fwd``: one image's forward pass (clean accuracy, the scoring of each attack, the on-site photos).

Evaluation is what surprised users (70–230 s per run with nothing moving): per run it plans
:func:`genmix_core.train.evaluate.planned_passes` (the gradient check, then per ε one FGSM step and
``restarts × pgd_steps`` PGD steps per image: an upper bound, since PGD stops at an image's first fooling step
and only clean-correct images are attacked) plus ``n_onsite`` forward passes. The measured evaluation time of a
finished run rescales the pass costs, so estimates follow what the attacks really cost here.
Costs come from earlier runs on this PC (``genmix_core.costs``), else from a few passes timed now
(:func:`calibrate`, a few seconds). The running job counts its progress in these planned seconds, so the bar moves
during evaluation too and the remaining time follows the job's real pace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MPX = 1e6


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per megapixel of one training sample (``step``), input gradient (``grad``) and forward pass
    (``fwd``); ``source``: ``"measured"`` (earlier runs here) or ``"timed"`` (a few passes timed now)."""

    step: float
    grad: float
    fwd: float
    source: str = "timed"


def cost_key(backbone: str, finetune: str, device: str) -> str:
    return f"{backbone}|{'all' if backbone == 'small_cnn' else finetune}|{device}"


def calibrate(backbone: str, finetune: str, device: str = "cpu", size: int = 112, batch: int = 16) -> UnitCosts:
    """Time two training steps (after a warm-up one), an input gradient and a forward pass of the real model on
    random images at the run's size (batch capped at 16: a few seconds on a laptop CPU)."""
    import torch
    import torch.nn.functional as F

    from genmix_core.train.models import build_model, trainable_parameters, training_layout

    dev = torch.device(device)
    model = build_model(backbone, 5, size=size, finetune=finetune).to(dev)
    x = training_layout(torch.rand(16, 3, size, size, device=dev), dev)   # the layout the runs will use
    y = torch.randint(0, 5, (16,), device=dev)
    opt = torch.optim.AdamW(trainable_parameters(model), lr=1e-4)

    batch = max(2, min(int(batch), 16))
    x, y = x[:batch], y[:batch]
    mpx = batch * size * size / MPX

    def timed(fn, repeats=1, warm_up=False) -> float:
        if warm_up:
            fn()
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / repeats / mpx

    def step():
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def grad():
        model.eval()
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xi), y), xi)

    @torch.no_grad()
    def fwd():
        model.eval()
        model(x)

    return UnitCosts(step=timed(step, repeats=2, warm_up=True), grad=timed(grad), fwd=timed(fwd), source="timed")


def unit_costs(backbone: str, finetune: str, device: str = "cpu", size: int = 112, batch: int = 16) -> UnitCosts:
    """This machine's costs for the model: measured by earlier runs, else timed now (at ``size``/``batch``)."""
    from genmix_core import costs

    known = costs.measured("train", cost_key(backbone, finetune, device))
    if known and all(known.get(k) for k in ("step", "grad", "fwd")):
        return UnitCosts(known["step"], known["grad"], known["fwd"], "measured")
    timed = calibrate(backbone, finetune, device, size, batch)
    costs.record("train", cost_key(backbone, finetune, device),
                 {"step": timed.step, "grad": timed.grad, "fwd": timed.fwd})
    return timed


def eval_passes(n_test: int, n_cross: int, eps_count: int, pgd_steps: int, restarts: int = 1) -> tuple[int, int]:
    """``(gradient passes, forward passes)`` of one run's evaluation (see the module docstring)."""
    from genmix_core.train.evaluate import planned_passes

    grads, fwds = planned_passes(n_test, eps_count, pgd_steps, restarts)
    return grads, fwds + n_cross


def run_seconds(units: UnitCosts, *, steps: int, batch: int, size: int, n_test: int, n_cross: int,
                eps_count: int, pgd_steps: int, restarts: int = 1) -> tuple[float, float]:
    """``(training seconds, evaluation seconds)`` of one (arm, seed) run."""
    mpx = size * size / MPX
    grads, fwds = eval_passes(n_test, n_cross, eps_count, pgd_steps, restarts)
    return steps * batch * mpx * units.step, (grads * units.grad + fwds * units.fwd) * mpx


@dataclass(frozen=True)
class CompareEstimate:
    """What a comparison will do and how long it will take here (seconds)."""

    runs: int
    images: int            # GenMix images to generate first, all seeds (0: none, or taken from an earlier run)
    generation_s: float
    train_s: float         # all runs
    eval_s: float          # all runs
    source: str            # "measured" or "timed" (the training costs)

    @property
    def total_s(self) -> float:
        return self.generation_s + self.train_s + self.eval_s


def planned_steps(cfg, train_counts: list[int], n_edits: int) -> list[int]:
    """Optimizer steps of every run ``cfg`` plans, per seed order: each arm (condition × budget,
    :func:`genmix_core.train.arms.plan_arms`) on ``train_counts`` training originals per class with ``n_edits``
    GenMix images (the epochs protocol trains over its pool), then the few-shot runs."""
    from genmix_core.train.arms import plan_arms
    from genmix_core.train.conditions import get_condition
    from genmix_core.train.loop import Budget

    n_train = max(1, sum(train_counts))
    base = Budget.for_epochs(n_train, cfg.epochs, cfg.batch_size)
    arms = plan_arms(cfg.conditions, list(cfg.steps_scale), list(cfg.protocols))
    steps = [a.budget(base, n_train + (n_edits if get_condition(a.condition).needs_edits else 0), cfg.epochs).steps
             for a in arms]
    steps += [Budget.for_epochs(max(1, sum(min(k, n) for n in train_counts)), cfg.epochs, cfg.batch_size).steps
              for k in cfg.few_shot for _ in cfg.conditions]
    return [s for _ in cfg.seeds for s in steps]


def estimate_compare(cfg, class_counts, n_onsite: int, units: UnitCosts, per_image_s: float = 0.0,
                     n_prompts: int = 0) -> CompareEstimate:
    """The plan of ``cfg`` (a :class:`~genmix_core.train.CompareConfig`) on classes of these sizes.

    Every seed makes its own generation run (issue #15) unless ``cfg.edits`` names one.

    Args:
        per_image_s / n_prompts: cost of one generated image and the prompts per photo (generation step).
    """
    from genmix_core.train.conditions import needs_edits
    from genmix_core.train.data import held_out_count
    from genmix_core.train.evaluate import parse_eps

    counts = [int(n) for n in class_counts if int(n) >= 2]
    n_test = sum(held_out_count(n, cfg.test_fraction) for n in counts)
    train_counts = [n - held_out_count(n, cfg.test_fraction) for n in counts]
    n_train = sum(train_counts)
    eps = len(parse_eps(cfg.eps))
    n_cross = int(n_onsite) if cfg.test else 0
    generating = needs_edits(cfg.conditions) and not cfg.edits
    train_s = eval_s = 0.0
    steps = planned_steps(cfg, train_counts, n_train * n_prompts)
    for n_steps in steps:
        tr, ev = run_seconds(units, steps=n_steps, batch=cfg.batch_size, size=cfg.size, n_test=n_test,
                             n_cross=n_cross, eps_count=eps, pgd_steps=cfg.pgd_steps, restarts=cfg.pgd_restarts)
        train_s += tr
        eval_s += ev
    images = n_train * n_prompts * len(cfg.seeds) if generating else 0
    return CompareEstimate(len(steps), images, images * per_image_s, train_s, eval_s, units.source)


class Tracker:
    """Progress of a running comparison in planned seconds (``job.json``'s ``done``/``total``): generation,
    then each run's training steps and evaluation passes. Calls are cheap; the reporter throttles writes.

    After each run, what it measured is folded into this machine's costs, so the next estimate (and this job's
    plan for later runs of the same model) follows the real pace.
    """

    def __init__(self, reporter, units: UnitCosts, key: str, *, batch: int, size: int, n_test: int, n_cross: int,
                 eps_count: int, pgd_steps: int, restarts: int = 1):
        self.reporter = reporter
        self.units = units
        self.key = key
        self.mpx = size * size / MPX
        self.batch = batch
        self.shape = dict(n_test=n_test, n_cross=n_cross, eps_count=eps_count, pgd_steps=pgd_steps,
                          restarts=restarts)
        self.done = 0.0
        self.total = 0.0
        self.gen_s = 0.0

    def train_seconds(self, steps: int) -> float:
        return steps * self.batch * self.mpx * self.units.step

    def run_seconds(self, steps: int) -> tuple[float, float]:
        return run_seconds(self.units, steps=steps, batch=self.batch, size=int(round((self.mpx * MPX) ** 0.5)),
                           **self.shape)

    def plan(self, generation_s: float, runs: list[tuple[float, float]]) -> None:
        """Set the plan: ``generation_s`` plus ``(train_s, eval_s)`` per run still to do."""
        self.gen_s = generation_s
        self.total = self.done + generation_s + sum(a + b for a, b in runs)
        self.reporter.state.extra.update(estimate_s=round(self.total, 1), base_done=0, progress_unit="seconds",
                                         runs=len(runs))
        self.reporter.update(done=round(self.done, 2), total=round(self.total, 2), force=True)

    def generation_started(self, seconds: float) -> None:
        """One of several generation runs (one per seed) begins: ``seconds`` of the planned generation time."""
        self.gen_s = seconds

    def generated(self, fraction: float, **message) -> None:
        self.reporter.update(done=round(self.done + self.gen_s * min(1.0, fraction), 2), **message)

    def generation_finished(self) -> None:
        self.done += self.gen_s
        self.gen_s = 0.0

    def trained(self, base: float, n_steps: int, /, **message) -> None:
        self.reporter.update(done=round(base + self.train_seconds(n_steps), 2), **message)

    def evaluated(self, grads: int, fwds: int) -> None:
        self.done += (grads * self.units.grad + fwds * self.units.fwd) * self.mpx
        self.reporter.update(done=round(min(self.done, self.total), 2))

    def measured(self, train_s: float, steps: int, eval_s: float, n_test: int, n_cross: int, eps_count: int,
                 pgd_steps: int, restarts: int = 1) -> None:
        """Fold one finished run's real times into this machine's costs."""
        from genmix_core import costs

        grads, fwds = eval_passes(n_test, n_cross, eps_count, pgd_steps, restarts)
        planned_eval = (grads * self.units.grad + fwds * self.units.fwd) * self.mpx
        scale = eval_s / planned_eval if planned_eval > 0 else 1.0
        values = {"step": train_s / max(1, steps) / (self.batch * self.mpx), "fwd": self.units.fwd * scale}
        # An evaluation without attacks (the recipe search's) says nothing of gradients: rescaling them by its
        # forward passes compounded from job to job (a machine's estimate reached 7 days for a 1-hour job).
        if grads:
            values["grad"] = self.units.grad * scale
        costs.record("train", self.key, values)


def job_tracker(cfg, data, reporter, generations=()) -> Tracker:
    """The tracker of a comparison whose split is drawn: costs of this machine, then the whole plan.

    Args:
        data: the first seed's :class:`~genmix_core.train.data.TrainingData` (every seed's split has the same
            sizes).
        generations: the :class:`~genmix_core.generate.GenerateConfig` of each generation step still to run
            (one per seed), in order; ``tracker.gen_parts`` holds their planned seconds.
    """
    from genmix_core.train.evaluate import parse_eps
    from genmix_core.train.loop import pick_device

    device = str(pick_device(cfg.device))
    units = unit_costs(cfg.backbone, cfg.finetune, device, cfg.size, cfg.batch_size)
    n_cross = sum(0 if x is None else len(x) for x in (data.cross_x, getattr(data, "cross_val_x", None)))
    tracker = Tracker(reporter, units, cost_key(cfg.backbone, cfg.finetune, device), batch=cfg.batch_size,
                      size=cfg.size, n_test=len(data.test), n_cross=n_cross, eps_count=len(parse_eps(cfg.eps)),
                      pgd_steps=cfg.pgd_steps, restarts=cfg.pgd_restarts)
    tracker.gen_parts = []
    n_prompts = 0
    for generation in generations:
        from genmix_core.generate import estimate_generation

        n_prompts = len(generation.resolved().prompts)
        tracker.gen_parts.append(estimate_generation(len(data.train) * n_prompts, generation.editor,
                                                     model=generation.model).seconds)
    train_counts = [int(c) for c in data.train["label"].value_counts()]
    runs = [tracker.run_seconds(n) for n in planned_steps(cfg, train_counts, len(data.train) * n_prompts)]
    tracker.plan(sum(tracker.gen_parts), runs)
    return tracker
