"""Training conditions as objects: what data each needs, how it builds its pool and mixes a batch, and how
charts show it. A new condition is one class here plus :func:`register_condition` (and its name in the
catalog, ``train.cond.<name>``).

Every condition trains under the same budget with the same flips and crops (:mod:`genmix_core.train.loop`);
they differ only in their pool (which images a batch is drawn from) and in a batch-level mix:

- ``baseline``: the original images only.
- ``genmix``: originals + one GenMix item per edit. By default the mix (mask, fractal and λ) is **re-drawn**
  from the cached edit every pass, seeded per (run seed, pass, item) (Islam et al., arXiv 2412.02366, Fig. 2:
  hybrid ``M⊙I + (1−M)⊙E`` then ``(1−λ)H + λF``); without re-drawing, the stored GenMix images.
- ``mixup`` (Zhang et al., 2018) and ``cutmix`` (Yun et al., 2019): batch-level mixing of the originals with
  soft labels.
- ``edits``: originals + raw edits without mixing (the authors' ablation: edits alone hurt).
- Controls that take GenMix apart (issue #15), each with GenMix's pool and the very same draws (mask, λ,
  fractal) item by item, one part of ``A = (1 − λ)·H + λ·F`` switched off (:data:`~genmix_core.train.pool.
  MIX_PARTS`): ``hybrid_only`` (λ = 0: ``H`` alone), ``contrast_only`` (``F = 0``: ``(1 − λ)·H``, the darkening
  without the fractal picture), ``fractal_only`` (``E = I``: ``(1 − λ)·I + λ·F``, no edit). So genmix −
  contrast_only is the fractal picture, contrast_only − hybrid_only the darkening, genmix − fractal_only the edit.

See kornia's ``augmentation/_2d/mix/`` (one class per mix over a shared base) for the pattern.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import numpy as np
import torch

from genmix_core.errors import UserError
from genmix_core.train.augment import cutmix, mixup, sample_cutmix_box, sample_mixup
from genmix_core.train.pool import MIX_PARTS, PoolItem, TrainPool


class Condition:
    """A training condition. Subclasses set the class attributes and override what differs.

    Attributes:
        name: id in configs, results and the catalog (``train.cond.<name>``).
        color: its colour in every chart of a report.
        needs_edits: True when it trains on the edits of a generation run.
    """

    name: ClassVar[str] = ""
    color: ClassVar[str] = "#7f7f7f"
    needs_edits: ClassVar[bool] = False
    mix_parts: ClassVar[tuple[str, ...]] = MIX_PARTS

    @property
    def label_key(self) -> str:
        return f"train.cond.{self.name}"

    def edit_data(self, redraw: bool) -> set[str]:
        """Which edit data it needs loaded: ``"raw"`` (the edits), ``"mixed"`` (stored GenMix images)."""
        return set()

    def draws_fractals(self, redraw: bool) -> bool:
        """Whether its pool blends procedural fractals at draw time (it then renders the run's fractal pool)."""
        return False

    def extra_images(self, data: Any, redraw: bool) -> tuple[np.ndarray | None, list[PoolItem]]:
        """Images beyond the originals and their pool items (indices start at ``len(data.train_images)``)."""
        return None, []

    def build_pool(self, data: Any, *, seed: int, redraw: bool = True, mix_options: dict | None = None,
                   fractals=None) -> TrainPool:
        """The pool a batch is drawn from: the originals of ``data`` (a :class:`~genmix_core.train.data.
        TrainingData`) plus :meth:`extra_images`."""
        n = len(data.train_images)
        items = [PoolItem(image=i, label=int(data.train_labels[i])) for i in range(n)]
        images = [data.train_images]
        if self.needs_edits and data.edits is None:
            raise UserError("err.train.no_edits", path="(none)")
        extra, extra_items = self.extra_images(data, redraw)
        if extra is not None:
            images.append(extra)
        items += extra_items
        return TrainPool(np.concatenate(images), items, mix_seed=seed, redraw=redraw, mix_options=mix_options,
                         fractals=fractals, parts=self.mix_parts)

    def mix_batch(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cfg: Any) -> tuple:
        """Batch-level mixing after flips and crops: ``x`` ``(N, 3, H, W)``, ``y`` soft targets ``(N, C)``.

        Random draws come from ``gen`` (a CPU generator), so a seed gives the same batch on every device.
        """
        return x, y


def _edit_labels(data: Any) -> list[int]:
    return [int(data.train_labels[i]) for i in data.edits["orig_index"]]


class Baseline(Condition):
    name = "baseline"
    color = "#7f7f7f"


class GenMix(Condition):
    name = "genmix"
    color = "#d62728"
    needs_edits = True

    def edit_data(self, redraw: bool) -> set[str]:
        return {"raw"} if redraw else {"mixed"}

    def draws_fractals(self, redraw: bool) -> bool:
        return redraw

    def extra_images(self, data, redraw):
        n = len(data.train_images)
        labels = _edit_labels(data)
        if redraw:  # mixed at draw time from (original, edit): fresh mask, λ and fractal each pass
            return data.edit_images, [PoolItem(image=int(o), label=lab, edit=n + k, key=key) for k, (o, lab, key)
                                      in enumerate(zip(data.edits["orig_index"], labels, data.edits["key"]))]
        return data.mix_images, [PoolItem(image=n + k, label=lab) for k, lab in enumerate(labels)]


def _redraw_items(data: Any, edit_rows: bool) -> list[PoolItem]:
    """One mixed item per edit: the original, and its edit's row (or the original's own row: ``E = I``)."""
    n = len(data.train_images)
    return [PoolItem(image=int(o), label=lab, edit=(n + k if edit_rows else int(o)), key=key)
            for k, (o, lab, key) in enumerate(zip(data.edits["orig_index"], _edit_labels(data), data.edits["key"]))]


class HybridOnly(Condition):
    name = "hybrid_only"
    color = "#9467bd"
    needs_edits = True
    mix_parts = ("edit",)

    def edit_data(self, redraw: bool) -> set[str]:
        return {"raw"}

    def extra_images(self, data, redraw):   # always mixed from the edits (the stored images are GenMix's)
        return data.edit_images, _redraw_items(data, edit_rows=True)


class ContrastOnly(HybridOnly):
    name = "contrast_only"
    color = "#8c564b"
    mix_parts = ("edit", "contrast")


class FractalOnly(Condition):
    name = "fractal_only"
    color = "#e377c2"
    needs_edits = True     # for the item list only: one mixed copy per (original, prompt), as GenMix
    mix_parts = ("fractal", "contrast")

    def draws_fractals(self, redraw: bool) -> bool:
        return True

    def extra_images(self, data, redraw):
        return None, _redraw_items(data, edit_rows=False)


class Edits(Condition):
    name = "edits"
    color = "#ff7f0e"
    needs_edits = True

    def edit_data(self, redraw: bool) -> set[str]:
        return {"raw"}

    def extra_images(self, data, redraw):
        n = len(data.train_images)
        return data.edit_images, [PoolItem(image=n + k, label=lab) for k, lab in enumerate(_edit_labels(data))]


class Mixup(Condition):
    name = "mixup"
    color = "#1f77b4"

    def mix_batch(self, x, y, gen, cfg):
        lam, perm = sample_mixup(gen, x.shape[0], cfg.mixup_alpha)
        return mixup(x, y, lam, perm.to(x.device))


class CutMix(Condition):
    name = "cutmix"
    color = "#2ca02c"

    def mix_batch(self, x, y, gen, cfg):
        box = sample_cutmix_box(gen, x.shape[-2], x.shape[-1], cfg.cutmix_alpha)
        return cutmix(x, y, box, torch.randperm(x.shape[0], generator=gen).to(x.device))


#: Every condition by name, in the order the UI lists them.
CONDITIONS: dict[str, Condition] = {}


def register_condition(condition: Condition) -> Condition:
    """Add (or replace) a condition; returns it."""
    if not condition.name:
        raise ValueError("a condition needs a name")
    CONDITIONS[condition.name] = condition
    return condition


for _cls in (Baseline, GenMix, Mixup, CutMix, Edits, FractalOnly, HybridOnly, ContrastOnly):
    register_condition(_cls())


def get_condition(name: str) -> Condition:
    """The condition called ``name``.

    Raises:
        UserError: ``err.train.bad_condition`` naming the value and the choices.
    """
    if name not in CONDITIONS:
        raise UserError("err.train.bad_condition", value=name, choices=", ".join(CONDITIONS))
    return CONDITIONS[name]


def needs_edits(names: Iterable[str]) -> bool:
    """Whether any of these conditions trains on edits (so a generation run is needed)."""
    return any(get_condition(n).needs_edits for n in names)


def edit_data_needed(names: Iterable[str], redraw: bool) -> set[str]:
    """The union of :meth:`Condition.edit_data` over ``names``."""
    return set().union(*(get_condition(n).edit_data(redraw) for n in names))


def build_pool(data: Any, condition: str, *, seed: int, redraw: bool = True, mix_options: dict | None = None,
               fractals=None) -> TrainPool:
    """The training pool of the condition called ``condition`` (see :meth:`Condition.build_pool`)."""
    return get_condition(condition).build_pool(data, seed=seed, redraw=redraw, mix_options=mix_options,
                                               fractals=fractals)
