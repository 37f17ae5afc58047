"""Fine-tuning under a matched budget: augmentation kernels, the training pool, the loop.

Conditions (``CONDITIONS``), all on top of the same random flips and crops:

- ``baseline``: the original images only.
- ``genmix``: originals + GenMix images. By default the mix (mask kind and fractal; λ stays at its recorded
  value, 0.2 as in the authors' code) is **re-drawn** from the cached edit every pass over the pool, seeded
  per (run seed, pass, item), so stored edits give fresh mixes
  (Islam et al., arXiv 2412.02366, Fig. 2: hybrid ``M⊙I + (1−M)⊙E`` then ``(1−λ)H + λF``).
- ``mixup`` (Zhang et al., 2018) and ``cutmix`` (Yun et al., 2019): batch-level mixing of the originals with
  soft labels.
- ``edits``: originals + raw edits without mixing (the authors' ablation: edits alone hurt).

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
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genmix_core.models import trainable_parameters
from genmix_core.seeds import item_seed

CONDITIONS = ("baseline", "genmix", "mixup", "cutmix", "edits")
NEEDS_EDITS = ("genmix", "edits")


# --- augmentation kernels: sample parameters, then apply deterministically -------------------------------

def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose ``flip`` flag is set. ``x``: (N, C, H, W); ``flip``: (N,) bool. New tensor."""
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def sample_crop_boxes(gen: torch.Generator, n: int, scale: tuple[float, float] = (0.6, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Random crop boxes as ``(N, 4)`` rows ``(cx, cy, w, h)`` in normalised [-1, 1] coordinates.

    The box covers ``scale`` of the image area with aspect ``ratio`` (log-uniform), clipped to the image
    (the "random resized crop" of Szegedy et al., 2015, with a milder default scale range for small sets).
    """
    area = torch.empty(n).uniform_(scale[0], scale[1], generator=gen)
    log_r = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - h)
    return torch.stack([cx, cy, w, h], dim=1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Cut each box out of its image and resize it back to the full size (bilinear).

    Args:
        x: (N, C, H, W) images.
        boxes: (N, 4) ``(cx, cy, w, h)`` from :func:`sample_crop_boxes`; ``(0, 0, 1, 1)`` is the identity.
    """
    cx, cy, w, h = boxes.to(x.device, x.dtype).unbind(1)
    zero = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(x: torch.Tensor, y: torch.Tensor, lam: float, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``λ·x + (1−λ)·x[perm]`` and the same for the soft targets ``y`` (N, C)."""
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def sample_cutmix_box(gen: torch.Generator, height: int, width: int,
                      alpha: float = 1.0) -> tuple[int, int, int, int]:
    """A CutMix box ``(top, bottom, left, right)`` whose area is about ``1 − λ``, ``λ ~ Beta(α, α)``."""
    lam = _beta(gen, alpha)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(round(height * cut)), int(round(width * cut))
    cy = int(torch.randint(height, (1,), generator=gen))
    cx = int(torch.randint(width, (1,), generator=gen))
    top, bottom = max(cy - ch // 2, 0), min(cy + (ch - ch // 2), height)
    left, right = max(cx - cw // 2, 0), min(cx + (cw - cw // 2), width)
    return top, bottom, left, right


def cutmix(x: torch.Tensor, y: torch.Tensor, box: tuple[int, int, int, int],
           perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: paste ``box`` of ``x[perm]`` into ``x``; targets mixed by the pasted area fraction.

    Returns new tensors; the label weight of the pasted image equals the exact pixel fraction of the box.
    """
    top, bottom, left, right = box
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (x.shape[-2] * x.shape[-1])
    return out, lam * y + (1 - lam) * y[perm]


def _beta(gen: torch.Generator, alpha: float) -> float:
    """One draw of Beta(α, α), reproducible from ``gen``."""
    # torch.distributions takes no generator; a numpy generator seeded from ``gen`` keeps the draw replayable.
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    return float(rng.beta(alpha, alpha))


def sample_mixup(gen: torch.Generator, n: int, alpha: float = 0.2) -> tuple[float, torch.Tensor]:
    """Mixup parameters for a batch of ``n``: ``λ ~ Beta(α, α)`` and a random pairing permutation."""
    return _beta(gen, alpha), torch.randperm(n, generator=gen)


# --- the training pool: what one condition draws its samples from -----------------------------------------

@dataclass(frozen=True)
class PoolItem:
    """One entry of a training pool.

    Attributes:
        image: Row of ``TrainPool.images`` (an original, a raw edit, or a stored GenMix image).
        label: Class index.
        edit: Row of the cached edit of ``image`` for a GenMix item whose mix is drawn at training time;
            ``-1`` means ``image`` is used as it is.
        key: Stable identity of the item (original path + prompt) that seeds its per-pass mix.
    """

    image: int
    label: int
    edit: int = -1
    key: str = ""


class TrainPool:
    """Images of one condition, held once at training resolution as ``uint8`` ``(M, H, W, 3)``.

    Args:
        images: All pixel arrays the items refer to.
        items: The pool entries (their order is the pool index).
        mix_seed: Run seed for the GenMix re-draws.
        redraw: Draw a new mix every pass over the pool (``True``) or keep the pass-0 mix for ever.
        mix_options: Keyword arguments for ``genmix_core.mixing.sample_mix_params`` (mask set, ramp, λ...).
        fractals: Optional ``FractalFolder`` with the user's fractal images.
    """

    def __init__(self, images: np.ndarray, items: list[PoolItem], *, mix_seed: int = 0, redraw: bool = True,
                 mix_options: dict | None = None, fractals=None) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (M, H, W, 3), got {images.dtype} {images.shape}")
        self.images = images
        self.items = list(items)
        self.mix_seed = int(mix_seed)
        self.redraw = redraw
        self.mix_options = dict(mix_options or {})
        self.fractals = fractals

    def __len__(self) -> int:
        return len(self.items)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of every image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    def mix_params(self, index: int, pass_index: int):
        """The ``MixParams`` of GenMix item ``index`` in pass ``pass_index`` (same inputs, same mix)."""
        from genmix_core.mixing import sample_mix_params

        item = self.items[index]
        p = pass_index if self.redraw else 0
        rng = np.random.default_rng(item_seed(self.mix_seed, item.key, f"genmix-pass-{p}"))
        return sample_mix_params(rng, **self.mix_options)

    def image(self, index: int, pass_index: int = 0) -> np.ndarray:
        """Item ``index`` as float32 ``(H, W, 3)`` in [0, 1] (mixed now for a GenMix item)."""
        item = self.items[index]
        original = self.images[item.image].astype(np.float32) / 255.0
        if item.edit < 0:
            return original
        from genmix_core.mixing import apply_mix

        edited = self.images[item.edit].astype(np.float32) / 255.0
        result = apply_mix(original, edited, self.mix_params(index, pass_index), self.fractals)
        return np.asarray(result.final, dtype=np.float32)

    def batch(self, indices: np.ndarray, passes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 3, H, W)`` float32 in [0, 1] and labels ``(N,)`` int64 for the given draws."""
        arr = np.stack([self.image(int(i), int(p)) for i, p in zip(indices, passes)])
        labels = torch.tensor([self.items[int(i)].label for i in indices], dtype=torch.long)
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(), labels


def budget_order(pool_size: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which pool item each of ``n_samples`` draws takes: seeded permutations of the pool, back to back.

    Returns:
        ``(indices, passes)``, both ``(n_samples,)`` int arrays; ``passes[k]`` is how many complete passes
        over the pool preceded draw ``k`` (it keys the GenMix re-draw).
    """
    if pool_size <= 0:
        raise ValueError("the training pool is empty")
    n_passes = -(-n_samples // pool_size)
    indices = np.concatenate([rng.permutation(pool_size) for _ in range(n_passes)])[:n_samples]
    passes = np.arange(n_samples) // pool_size
    return indices, passes


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
                should_stop: Callable[[], bool] | None = None) -> TrainStats:
    """Train ``model`` in place for exactly ``budget.steps`` steps of ``budget.batch_size`` samples.

    AdamW on the trainable parameters, cosine learning-rate decay to 0. On CUDA the forward pass runs under
    bf16 autocast. Every condition gets flips and crops; ``mixup``/``cutmix`` mix each batch afterwards.

    Args:
        on_step: Called as ``on_step(step, loss)`` after each step (progress reporting).
        should_stop: Checked before each step; when true, :class:`Cancelled` is raised.
    """
    dev = pick_device(device) if isinstance(device, str) else device
    torch.manual_seed(seed)  # dropout in the head
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    indices, passes = budget_order(len(pool), budget.samples, rng)
    model.to(dev).train()
    params = trainable_parameters(model)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / budget.steps)))
    stats = TrainStats(pool_size=len(pool), passes=int(passes[-1]) + 1)
    start = time.perf_counter()
    for step in range(budget.steps):
        if should_stop is not None and should_stop():
            raise Cancelled()
        sl = slice(step * budget.batch_size, (step + 1) * budget.batch_size)
        x, labels = pool.batch(indices[sl], passes[sl])
        n = x.shape[0]
        if cfg.flip:
            x = hflip(x, torch.rand(n, generator=gen) < 0.5)
        x = resized_crop(x, sample_crop_boxes(gen, n, cfg.crop_scale))
        y = F.one_hot(labels, num_classes).float()
        if cfg.condition == "mixup":
            lam, perm = sample_mixup(gen, n, cfg.mixup_alpha)
            x, y = mixup(x, y, lam, perm)
        elif cfg.condition == "cutmix":
            box = sample_cutmix_box(gen, x.shape[-2], x.shape[-1], cfg.cutmix_alpha)
            x, y = cutmix(x, y, box, torch.randperm(n, generator=gen))
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
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
    stats.seconds = time.perf_counter() - start
    model.eval()
    return stats
