"""Metrics and adversarial attacks for a trained classifier.

Models take images ``(N, 3, H, W)`` float32 in **[0, 1] pixel space** (see ``models.py``), so the attack
budget ε is in pixel units before any normalisation: ε = 4/255 changes each pixel by at most 4 grey levels.

- FGSM: ``x' = clip(x + ε·sign(∇ₓ L), 0, 1)`` (Goodfellow et al., 2015, arXiv 1412.6572).
- PGD: random start in the ε-ball, ``steps`` signed-gradient steps of size ``α``, projection back onto the
  ε-ball and [0, 1] after each (Madry et al., 2018, arXiv 1706.06083). Default α = 2.5·ε/steps.
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
DEFAULT_EPS = ("0.25/255", "1/255", "4/255")


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


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


Work = Callable[[int, int], None]
"""Progress callback ``on_work(gradient passes, forward passes)``, called after each batch (image counts)."""


def _no_work(grads: int, fwds: int) -> None:
    pass


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 64,
            device: str | torch.device = "cpu", on_work: Work = _no_work) -> np.ndarray:
    """Predicted class indices ``(N,)`` for images ``(N, 3, H, W)`` in [0, 1] (model in eval mode)."""
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
        step_size: float | None = None, gen: torch.Generator | None = None) -> torch.Tensor:
    """L∞ PGD adversarial images (random start drawn from ``gen``, on the CPU for reproducibility)."""
    if eps == 0:
        return x.clone()
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    noise = torch.rand(x.shape, generator=gen).to(x.device, x.dtype) * 2 - 1
    adv = (x + eps * noise).clamp(0.0, 1.0)
    for _ in range(steps):
        adv = adv + alpha * _input_grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0.0, 1.0).detach()
    return adv


def attack_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, attack: str, *,
                    batch_size: int = 64, device: str | torch.device = "cpu", pgd_steps: int = 10,
                    seed: int = 0, on_work: Work = _no_work) -> float:
    """Top-1 accuracy on ``attack`` (``"fgsm"`` or ``"pgd"``) adversarial versions of ``x``."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    for sl in _batches(len(x), batch_size):
        xb, yb = x[sl].to(device), y[sl].to(device)
        if attack == "fgsm":
            adv = fgsm(model, xb, yb, eps)
        elif attack == "pgd":
            adv = pgd(model, xb, yb, eps, steps=pgd_steps, gen=gen)
        else:
            raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
        with torch.no_grad():
            correct += int((model(adv).argmax(1) == yb).sum())
        on_work(len(yb) * (1 if attack == "fgsm" else pgd_steps) * (eps != 0), len(yb))
    return correct / len(x) if len(x) else float("nan")


def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, class_names: list[str], *,
                   eps: list[tuple[str, float]] = (), attacks: tuple[str, ...] = ("fgsm", "pgd"),
                   pgd_steps: int = 10, batch_size: int = 64, device: str | torch.device = "cpu",
                   seed: int = 0, on_work: Work = _no_work) -> dict:
    """Clean metrics (:func:`classification_metrics`) plus ``"<attack>_accuracy": {eps_label: acc}``, and the
    answer for every test image in order (``predictions``, ``targets``: class indices), so that a verdict can
    pair two runs photo by photo (:mod:`genmix_core.train.verdict`).

    ``on_work`` hears of every batch's passes, so a progress bar moves during the attacks too.
    """
    preds = predict(model, x, batch_size=batch_size, device=device, on_work=on_work)
    out = classification_metrics(y.numpy(), preds, class_names)
    out["predictions"] = [int(p) for p in preds]
    out["targets"] = [int(v) for v in y.numpy()]
    for attack in attacks:
        out[f"{attack}_accuracy"] = {
            label: attack_accuracy(model, x, y, value, attack, batch_size=batch_size, device=device,
                                   pgd_steps=pgd_steps, seed=seed, on_work=on_work)
            for label, value in eps}
    return out
