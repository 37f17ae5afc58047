"""Fine-tuning under a matched budget: the training loop (kernels in ``augment``, pool in ``train_pool``).

Conditions (:mod:`genmix_core.train.conditions`) all train on top of the same random flips and crops; each
adds its own pool and, for Mixup/CutMix, a batch-level mix.

**Matched budget.** Every condition takes the same number of optimizer steps with the same batch size,
whatever the size of its pool: the pool is cycled in seeded random permutations until the budget is spent.
A condition with a 5× larger pool therefore sees each image fewer times, not more steps. This answers the
criticism that GenMix comparisons at equal *epochs* give it 5× the compute.

Tensors: images ``(N, 3, H, W)`` float32 in [0, 1]; labels as class indices ``(N,)`` or soft targets
``(N, C)``. Every random choice comes from a seeded ``torch.Generator`` / ``numpy.random.Generator``, so a
seed reproduces a CPU run exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genmix_core.train.augment import hflip, resized_crop, sample_crop_boxes
from genmix_core.train.conditions import get_condition
from genmix_core.train.models import trainable_parameters, training_layout
from genmix_core.train.pool import TrainPool, budget_order


# --- the loop ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """The training budget shared by every condition: ``steps`` optimizer steps of ``batch_size`` samples."""

    steps: int
    batch_size: int

    @property
    def samples(self) -> int:
        return self.steps * self.batch_size

    @classmethod
    def for_epochs(cls, n_originals: int, epochs: int, batch_size: int) -> "Budget":
        """``epochs`` passes over the *original* training images (the baseline's epoch), for every condition."""
        return cls(steps=max(1, int(epochs) * -(-int(n_originals) // int(batch_size))), batch_size=int(batch_size))


@dataclass
class TrainConfig:
    """Optimiser and augmentation settings (recorded in the results)."""

    condition: str = "baseline"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    crop_scale: tuple[float, float] = (0.6, 1.0)
    flip: bool = True
    mixup_alpha: float = 0.2
    cutmix_alpha: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainStats:
    """What a training run did: counted in the loop, not computed from the plan."""

    steps: int = 0
    samples: int = 0
    passes: int = 0
    pool_size: int = 0
    seconds: float = 0.0
    final_loss: float = float("nan")
    fractal_seeds: list[int] = field(default_factory=list)
    """The run's GenMix fractal pool (``TrainPool.fractal_seeds``); empty when no item was mixed."""
    best_step: int | None = None
    """With early stopping: the step whose weights were kept (best validation accuracy)."""
    val_curve: list[list[float]] = field(default_factory=list)
    """With early stopping: ``[step, validation accuracy]`` at every evaluation."""


class Cancelled(Exception):
    """Raised by :func:`train_model` when ``should_stop()`` turns true between two steps."""


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits ``(N, C)`` against soft targets ``(N, C)`` (rows sum to 1)."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(1).mean()


def train_model(model: nn.Module, pool: TrainPool, cfg: TrainConfig, budget: Budget, *, seed: int,
                num_classes: int, device: str | torch.device = "cpu",
                on_step: Callable[[int, float], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                validate: Callable[[nn.Module], float] | None = None, eval_every: int = 0,
                patience: int = 0) -> TrainStats:
    """Train ``model`` in place for exactly ``budget.steps`` steps of ``budget.batch_size`` samples (or fewer,
    with early stopping).

    AdamW on the trainable parameters, cosine learning-rate decay to 0. On CUDA the forward pass runs under
    bf16 autocast. Every condition gets flips and crops, then its own batch mix (``Condition.mix_batch``).

    Args:
        on_step: Called as ``on_step(step, loss)`` after each step (progress reporting).
        should_stop: Checked before each step; when true, :class:`Cancelled` is raised.
        validate: Early stopping (with ``eval_every`` and ``patience`` > 0): ``validate(model)`` (in eval mode)
            gives the validation accuracy every ``eval_every`` steps and after the last; training stops once
            ``patience`` evaluations in a row bring no improvement, and the best weights are put back.
    """
    dev = pick_device(device) if isinstance(device, str) else device
    condition = get_condition(cfg.condition)
    torch.manual_seed(seed)  # dropout in the head
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    indices, passes = budget_order(len(pool), budget.samples, rng)
    model.to(dev).train()
    params = trainable_parameters(model)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / budget.steps)))
    stats = TrainStats(pool_size=len(pool), passes=int(passes[-1]) + 1)
    stopper = _EarlyStop(model, validate, eval_every, patience) if validate and eval_every > 0 and patience > 0 \
        else None
    start = time.perf_counter()
    for step in range(budget.steps):
        if should_stop is not None and should_stop():
            raise Cancelled()
        sl = slice(step * budget.batch_size, (step + 1) * budget.batch_size)
        # The batch is built, mixed and augmented on the training device; the random draws stay on the
        # CPU generators, so a seed gives the same draws on every device.
        x, labels = pool.batch(indices[sl], passes[sl], device=dev)
        n = x.shape[0]
        if cfg.flip:
            x = hflip(x, (torch.rand(n, generator=gen) < 0.5).to(dev))
        x = resized_crop(x, sample_crop_boxes(gen, n, cfg.crop_scale))
        y = F.one_hot(labels, num_classes).float()
        x, y = condition.mix_batch(x, y, gen, cfg)
        x = training_layout(x, dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = model(x)
        loss = soft_cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        stats.steps += 1
        stats.samples += n
        stats.final_loss = float(loss.detach())
        if on_step is not None:
            on_step(step + 1, stats.final_loss)
        if stopper is not None and stopper.check(step + 1, last=step + 1 == budget.steps):
            break
    if stopper is not None:
        stats.best_step, stats.val_curve = stopper.restore(), stopper.curve
        stats.passes = int(passes[stats.samples - 1]) + 1
    stats.seconds = time.perf_counter() - start
    if pool.mixes:
        stats.fractal_seeds = pool.fractal_seeds
    model.eval()
    return stats


class _EarlyStop:
    """Validation every ``every`` steps; remembers the best weights; says when ``patience`` checks brought none."""

    def __init__(self, model: nn.Module, validate: Callable[[nn.Module], float], every: int, patience: int):
        self.model, self.validate, self.every, self.patience = model, validate, int(every), int(patience)
        self.best, self.best_step, self.since, self.state = -1.0, 0, 0, None
        self.curve: list[list[float]] = []

    def check(self, step: int, last: bool) -> bool:
        """Evaluate at this step if due; True when training should stop now."""
        if step % self.every and not last:
            return False
        self.model.eval()
        acc = float(self.validate(self.model))
        self.model.train()
        self.curve.append([step, acc])
        if acc > self.best:
            self.best, self.best_step, self.since = acc, step, 0
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.since += 1
        return self.since >= self.patience

    def restore(self) -> int:
        """Put the best weights back; returns their step."""
        if self.state is not None:
            self.model.load_state_dict(self.state)
        return self.best_step

