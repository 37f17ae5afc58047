"""How long a generation run will take on this machine, before it starts (the Generate and Train pages).

Sources, best first: seconds per image that earlier runs with the same editor settings measured here
(``genmix_core.costs``); for an editor without a model, one photo edited, mixed and encoded now; for a diffusion
editor never run here, the documented FLOP model (:func:`genmix_core.editing.estimate_seconds_per_edit`).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GenerateEstimate:
    """``items`` images at ``per_item`` seconds each: ``seconds`` in all; ``source`` is ``"measured"`` (earlier
    runs here), ``"timed"`` (one photo timed now) or ``"model"`` (the FLOP model, never run here)."""

    items: int
    per_item: float
    source: str

    @property
    def seconds(self) -> float:
        return self.items * self.per_item


def cost_key(editor: str, model: str | None = None, steps: int | None = None, size: int | None = None,
             device: str = "cpu") -> str:
    """The key of an editor setting in the machine's cost record."""
    return f"{editor}|{model or '-'}|{steps or '-'}|{size or '-'}|{device}"


def _time_one(editor_id: str, photo: str | Path) -> float:
    """Wall seconds to edit, mix and encode one photo with an editor that needs no model (second of two runs)."""
    import numpy as np

    from genmix_core.data import load_image_bytes
    from genmix_core.editing import create_editor, style_ids
    from genmix_core.mixing import apply_mix, sample_mix_params, to_image

    image = load_image_bytes(Path(photo).read_bytes(), name=Path(photo).name)
    editor = create_editor(editor_id)
    prompt = style_ids()[0]
    best = float("inf")
    for seed in (0, 1):
        t0 = time.perf_counter()
        edit = editor.edit(image, prompt, seed)
        result = apply_mix(image, edit, sample_mix_params(np.random.default_rng(seed)))
        to_image(result.final).save(io.BytesIO(), format="PNG")
        best = min(best, time.perf_counter() - t0)
    return best


def estimate_generation(items: int, editor: str, *, model: str | None = None, steps: int | None = None,
                        size: int | None = None, photo: str | Path | None = None) -> GenerateEstimate:
    """The time ``items`` (photo, prompt) images will take with this editor setting on this machine."""
    from genmix_core import costs
    from genmix_core.editing import choose_device, editor_spec, estimate_seconds_per_edit
    from genmix_core.generate.pipeline import available_cpus, resolve_workers

    spec = editor_spec(editor)
    device = choose_device() if spec.is_diffusion else "cpu"
    known = costs.measured("generate", cost_key(editor, model, steps, size, device))
    if known and known.get("per_item"):
        return GenerateEstimate(items, known["per_item"], "measured")
    if not spec.is_diffusion and photo is not None:
        # Items run on one thread per core; fsync and the job's start add a little.
        workers = min(resolve_workers(None, False), available_cpus())
        return GenerateEstimate(items, _time_one(editor, photo) / max(1, workers) * 1.2 + 0.005, "timed")
    return GenerateEstimate(items, estimate_seconds_per_edit(editor, device, steps, size or 512), "model")


def record_generation(cfg, device: str, seconds: float, new_items: int) -> None:
    """Keep what a finished run measured: wall seconds per new image (model loading included). A run that stored
    edits only (``no_mixes``) is not kept: without the mixing it would make the next full run look cheaper."""
    from genmix_core import costs

    if new_items >= 4 and not getattr(cfg, "no_mixes", False):  # a handful of items is mostly start-up time
        costs.record("generate", cost_key(cfg.editor, cfg.model, cfg.steps, cfg.size, device),
                     {"per_item": seconds / new_items})
