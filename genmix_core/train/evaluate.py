"""Metrics and adversarial attacks for a trained classifier.

Models take images ``(N, 3, H, W)`` float32 in **[0, 1] pixel space** (see ``models.py``), so the attack
budget ε is in pixel units before any normalisation: ε = 4/255 changes each pixel by at most 4 grey levels.

- FGSM: ``x' = clip(x + ε·sign(∇ₓ L), 0, 1)`` (Goodfellow et al., 2015, arXiv 1412.6572).
- PGD: random start in the ε-ball, ``steps`` signed-gradient steps of size ``α``, projection back onto the
  ε-ball and [0, 1] after each (Madry et al., 2018, arXiv 1706.06083). Default α = 2.5·ε/steps.

What :func:`evaluate_model` reports (issue #15, "attacks worth the name"): ε from 1/255 up (smaller budgets lie
below 8-bit quantisation); PGD with 50 steps and 2 random restarts by default, an image counting as robust only
when no restart fools it; both attacks run on the **clean-correct** images only, reported as the share of them
that stays correct (``*_kept``) and as accuracy over all images (``*_accuracy``, a clean error counts as an
error). Beside them, a gradient-masking check: the share of exactly-zero input-gradient entries and of images
whose whole input gradient is zero (a saturated softmax or a flat region hides the loss from a gradient attack),
and whether PGD ever scores above FGSM at the same ε (a stronger attack that does worse is a masking sign).

On a GPU every batch the model sees has one shape (:class:`FixedBatch`): the attacks shrink their batches as
images fall (PGD drops each fooled image at once), and cuDNN pays a host-side cold start (heuristics, plan
building) for every new batch shape of every convolution. Profiled on the H200 (``bench/bench_train.py
--profile``), a whole small fine-tune spent 0.25 s of GPU time against 87 s of CPU time inside cuDNN convolution
calls (under the profiler, beside another job): the first evaluation of a process paid for each batch size it
met. The A/B on one H200 (``bench/bench_train.py`` against ``--variable-shapes``, 2026-11-30) confirmed it:
evaluation 72.4 s unpadded, 2.9 s padded, the same accuracies. Padded rows are computed and thrown away; on a
GPU that is free at these sizes, on a CPU it would be real work and there is no such cold start, so CPU batches
keep their size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix
from torch import nn

from genmix_core.errors import UserError

# A spread from a tiny to a clearly visible change: small fine-tunes (a frozen ImageNet trunk) already fall to
# 0 % under PGD at 1/255, so a default that starts there would chart nothing but zeros (docs/EVIDENCE.md).
DEFAULT_EPS = ("1/255", "2/255", "4/255")
DEFAULT_PGD_STEPS = 50
DEFAULT_RESTARTS = 2


def parse_eps(text: str | list[str] | tuple[str, ...]) -> list[tuple[str, float]]:
    """Parse ``"1/255,0.5/255,0.01"`` (or a list of such strings) into ``[(label, value), ...]``.

    Raises:
        UserError: ``err.train.bad_eps`` for a value that is not a number, a fraction, or lies outside [0, 1].
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            num, _, den = part.partition("/")
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            raise UserError("err.train.bad_eps", value=part) from None
        if not 0.0 <= value <= 1.0 or value != value:
            raise UserError("err.train.bad_eps", value=part)
        out.append((part, value))
    return out


#: Device types on which evaluation batches are padded to one shape (see the module notes).
FIXED_SHAPE_DEVICES = ("cuda",)


class FixedBatch(nn.Module):
    """``model`` seen through batches of exactly ``rows`` images: a smaller batch is padded with zero images, and
    only its own rows of the output are returned (so gradients reach only the real images). In eval mode each
    row's output depends on that row alone, so the answers are those of the unpadded batch (on a GPU, up to the
    float rounding of another kernel)."""

    def __init__(self, model: nn.Module, rows: int):
        super().__init__()
        self.model, self.rows = model, int(rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One memory layout too: cuDNN builds its plans per layout, and for this backbone's depthwise convolutions a
        # new plan costs 60-115 ms each. Full batches of the test images (channels-last, data.to_tensor) among
        # contiguous padded ones cost the baseline's evaluation 2.2 s of its 3.2-3.5 s on an H200 (session 11,
        # bench/diag_cross_eval.py); training batches are contiguous as well.
        x = x.contiguous()
        n = len(x)
        if n >= self.rows:
            return self.model(x)
        return self.model(torch.cat([x, x.new_zeros((self.rows - n, *x.shape[1:]))]))[:n]


def _shaped(model: nn.Module, batch_size: int, device: str | torch.device, fixed: bool | None) -> nn.Module:
    """``model`` wrapped in :class:`FixedBatch` where batches keep one shape (``fixed``; None: by device type)."""
    if fixed is None:
        fixed = torch.device(device).type in FIXED_SHAPE_DEVICES
    return FixedBatch(model, batch_size) if fixed and not isinstance(model, FixedBatch) else model


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


Work = Callable[[int, int], None]
"""Progress callback ``on_work(gradient passes, forward passes)``, called after each batch (image counts)."""


def _no_work(grads: int, fwds: int) -> None:
    pass


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 64,
            device: str | torch.device = "cpu", on_work: Work = _no_work,
            fixed_shape: bool | None = None) -> np.ndarray:
    """Predicted class indices ``(N,)`` for images ``(N, 3, H, W)`` in [0, 1] (model in eval mode;
    ``fixed_shape``: batches padded to ``batch_size``, by default on a GPU)."""
    model = _shaped(model, batch_size, device, fixed_shape)
    model.eval()
    preds = []
    for sl in _batches(len(x), batch_size):
        preds.append(model(x[sl].to(device)).argmax(1).cpu())
        on_work(0, sl.stop - sl.start)
    return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)


def classification_metrics(y_true, y_pred, class_names: list[str]) -> dict:
    """Top-1 accuracy, per-class accuracy (recall) and the confusion matrix.

    Returns:
        ``{"accuracy": float, "n": int, "per_class": {name: float | None}, "confusion": [[int]]}``; the
        confusion matrix has one row per *true* class and one column per predicted class, in
        ``class_names`` order; a class without test images has per-class accuracy ``None``.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    labels = list(range(len(class_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels) if len(y_true) else np.zeros((len(labels),) * 2, int)
    support = cm.sum(1)
    per_class = {name: (float(cm[i, i] / support[i]) if support[i] else None)
                 for i, name in enumerate(class_names)}
    accuracy = float((y_true == y_pred).mean()) if len(y_true) else float("nan")
    return {"accuracy": accuracy, "n": int(len(y_true)), "per_class": per_class, "confusion": cm.tolist()}


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x).float(), y)
    return torch.autograd.grad(loss, x)[0]


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM adversarial images for ``x`` (N, 3, H, W) in [0, 1] and true labels ``y`` (N,)."""
    if eps == 0:
        return x.clone()
    return (x + eps * _input_grad(model, x, y).sign()).clamp(0.0, 1.0).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 10,
        step_size: float | None = None, gen: torch.Generator | None = None,
        stop_when_fooled: bool = False) -> torch.Tensor:
    """L∞ PGD adversarial images (random start drawn from ``gen``, on the CPU for reproducibility).

    With ``stop_when_fooled`` an image leaves the attack at the first iterate the model misclassifies (that
    iterate is returned): the same or a stronger attack than keeping only the last iterate, for a fraction of
    the gradients when most images fall in a few steps.
    """
    if eps == 0:
        return x.clone()
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    noise = torch.rand(x.shape, generator=gen).to(x.device, x.dtype) * 2 - 1
    adv = (x + eps * noise).clamp(0.0, 1.0)
    if not stop_when_fooled:
        for _ in range(steps):
            adv = adv + alpha * _input_grad(model, adv, y).sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
        return adv
    active = torch.arange(len(x), device=x.device)
    for _ in range(steps):
        xa = adv[active].detach().requires_grad_(True)
        logits = model(xa).float()
        grad = torch.autograd.grad(F.cross_entropy(logits, y[active], reduction="sum"), xa)[0]
        going = logits.argmax(1) == y[active]          # not fooled yet: take another step
        active, grad = active[going], grad[going]
        if not len(active):
            break
        moved = adv[active] + alpha * grad.sign()
        adv[active] = torch.min(torch.max(moved, x[active] - eps), x[active] + eps).clamp(0.0, 1.0).detach()
    return adv.detach()


def attack_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, attack: str, *,
                    batch_size: int = 64, device: str | torch.device = "cpu", pgd_steps: int = 10,
                    seed: int = 0, restarts: int = 1, on_work: Work = _no_work) -> float:
    """Top-1 accuracy on ``attack`` (``"fgsm"`` or ``"pgd"``) adversarial versions of ``x`` (all images)."""
    robust = robust_mask(model, x, y, eps, attack, batch_size=batch_size, device=device, pgd_steps=pgd_steps,
                         seed=seed, restarts=restarts, on_work=on_work)
    return float(robust.float().mean()) if len(x) else float("nan")


def robust_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, attack: str, *,
                batch_size: int = 64, device: str | torch.device = "cpu", pgd_steps: int = DEFAULT_PGD_STEPS,
                seed: int = 0, restarts: int = 1, on_work: Work = _no_work) -> torch.Tensor:
    """``(N,)`` bool: image ``i`` is classified correctly under the attack (every PGD restart, each from its own
    seeded random start; an image fooled once is not attacked again). ``on_work`` hears of each batch's
    planned passes (an image leaving PGD early counts its whole budget: progress, not a cost measure)."""
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    alive = torch.ones(len(x), dtype=torch.bool)
    for _ in range(1 if attack == "fgsm" else max(1, int(restarts))):
        idx = torch.nonzero(alive).flatten()
        for sl in _batches(len(idx), batch_size):
            rows = idx[sl]
            xb, yb = x[rows].to(device), y[rows].to(device)
            adv = fgsm(model, xb, yb, eps) if attack == "fgsm" else pgd(model, xb, yb, eps, steps=pgd_steps, gen=gen,
                                                                         stop_when_fooled=True)
            with torch.no_grad():
                alive[rows] = (model(adv).argmax(1) == yb).cpu()
            on_work(len(yb) * (1 if attack == "fgsm" else pgd_steps) * (eps != 0), len(yb))
    return alive


def zero_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 64,
                   device: str | torch.device = "cpu", on_work: Work = _no_work) -> dict:
    """Gradient-masking check at the clean images: ``{"zero_share", "zero_images", "n"}``, the share of input
    gradient entries that are exactly 0 and the share of images whose whole input gradient is 0."""
    model.eval()
    zeros = entries = images = 0
    for sl in _batches(len(x), batch_size):
        g = _input_grad_per_image(model, x[sl].to(device), y[sl].to(device))
        zeros += int((g == 0).sum())
        entries += g.numel()
        images += int((g.flatten(1) == 0).all(1).sum())
        on_work(sl.stop - sl.start, 0)
    n = len(x)
    return {"zero_share": zeros / entries if entries else None, "zero_images": images / n if n else None, "n": n}


def _input_grad_per_image(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∇ₓ of the summed (not averaged) loss, so each image's gradient is its own, not divided by the batch."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x).float(), y, reduction="sum")
    return torch.autograd.grad(loss, x)[0]


def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, class_names: list[str], *,
                   eps: list[tuple[str, float]] = (), attacks: tuple[str, ...] = ("fgsm", "pgd"),
                   pgd_steps: int = DEFAULT_PGD_STEPS, restarts: int = DEFAULT_RESTARTS, batch_size: int = 64,
                   device: str | torch.device = "cpu", seed: int = 0, on_work: Work = _no_work,
                   fixed_shape: bool | None = None) -> dict:
    """Clean metrics (:func:`classification_metrics`) plus, for each attack and ε, ``"<attack>_accuracy"``
    (over all images) and ``"<attack>_kept"`` (over the clean-correct ones), ``n_clean_correct`` and the
    ``gradients`` check (:func:`zero_gradients`, on the clean-correct images); and the answer for every test
    image in order (``predictions``, ``targets``: class indices), so that a verdict can pair two runs photo by
    photo (:mod:`genmix_core.train.verdict`).

    ``on_work`` hears of every batch's passes, so a progress bar moves during the attacks too. ``fixed_shape``:
    every batch padded to ``batch_size`` images (:class:`FixedBatch`; default: on a GPU).
    """
    model = _shaped(model, batch_size, device, fixed_shape)
    seen = [0, 0]

    def counted(grads: int, fwds: int) -> None:
        seen[0] += grads
        seen[1] += fwds
        on_work(grads, fwds)

    out = _evaluate(model, x, y, class_names, eps=eps, attacks=attacks, pgd_steps=pgd_steps, restarts=restarts,
                    batch_size=batch_size, device=device, seed=seed, on_work=counted)
    # What the attacks skipped (clean errors, images fooled early) is reported now, so that the progress bar
    # ends each run where the plan (:func:`planned_passes`) put it.
    planned = planned_passes(len(x), len(eps) if attacks else 0, pgd_steps, restarts, attacks)
    if planned[0] > seen[0] or planned[1] > seen[1]:
        on_work(max(0, planned[0] - seen[0]), max(0, planned[1] - seen[1]))
    return out


def planned_passes(n: int, eps_count: int, pgd_steps: int, restarts: int,
                   attacks: tuple[str, ...] = ("fgsm", "pgd")) -> tuple[int, int]:
    """``(gradient passes, forward passes)`` :func:`evaluate_model` plans for ``n`` images: the clean forward
    pass; with attacks, the gradient check, then per ε one FGSM step and ``restarts × pgd_steps`` PGD steps
    with one scoring pass per attack and restart, as if every image were clean-correct and never fooled (an
    upper bound: the job's progress unit, not its cost)."""
    if not eps_count or not attacks:
        return 0, n
    fgsm_on, pgd_on = "fgsm" in attacks, "pgd" in attacks
    grads = n * (1 + eps_count * (fgsm_on + pgd_on * pgd_steps * restarts))
    fwds = n * (1 + eps_count * (fgsm_on + pgd_on * restarts))
    return grads, fwds


def _evaluate(model, x, y, class_names, *, eps, attacks, pgd_steps, restarts, batch_size, device, seed,
              on_work) -> dict:
    pred = predict(model, x, batch_size=batch_size, device=device, on_work=on_work)
    out = classification_metrics(y.numpy(), pred, class_names)
    out["predictions"] = [int(p) for p in pred]
    out["targets"] = [int(v) for v in y.numpy()]
    if not attacks or not eps:
        return out
    correct = torch.from_numpy(pred == y.numpy())
    xc, yc = x[correct], y[correct]
    n, n_ok = len(x), int(correct.sum())
    out["n_clean_correct"] = n_ok
    out["gradients"] = zero_gradients(model, xc, yc, batch_size=batch_size, device=device, on_work=on_work)
    for attack in attacks:
        # PGD, smallest ε first: an image fooled within a smaller ball is fooled within every larger one (the
        # same adversarial image lies inside), so only the survivors are attacked again. FGSM stays one plain
        # step per ε (cheap, and its shape over ε is part of the masking check).
        kept, alive = {}, torch.ones(n_ok, dtype=torch.bool)
        for label, value in sorted(eps, key=lambda e: e[1]):
            if attack == "fgsm":
                alive = torch.ones(n_ok, dtype=torch.bool)
            rows = torch.nonzero(alive).flatten()
            alive = alive.clone()
            alive[rows] = robust_mask(model, xc[rows], yc[rows], value, attack, batch_size=batch_size,
                                      device=device, pgd_steps=pgd_steps, seed=seed, restarts=restarts,
                                      on_work=on_work)
            kept[label] = alive
        kept = {label: kept[label] for label, _ in eps}
        out[f"{attack}_kept"] = {k: (float(v.float().mean()) if n_ok else None) for k, v in kept.items()}
        out[f"{attack}_accuracy"] = {k: (int(v.sum()) / n if n else float("nan")) for k, v in kept.items()}
    return out
