"""Recipes: a training condition (:mod:`genmix_core.train.conditions`) with its settings and a budget.

The grid of a search is a table, not an if-chain: :data:`AXES` says which settings each condition takes
(the fractal weight λ, the mask set, the prompt subset), and :func:`grid` crosses those axes with the
values of the search's config. A recipe is frozen and hashable; its :attr:`Recipe.name` is its id in the run
folder, ``search.json`` and the chart (``genmix_lam0.1_diffusemix_p1+3@x4``); :meth:`Recipe.settings` says in
full what it trains with, and :func:`app_settings` turns those into the settings of the Generate and
Train & Compare jobs, so an applied recipe reaches both with exactly these values.

λ: the search's λ values are nominal. With ``lam_spread`` > 0 a λ > 0 is re-drawn per mix from
``λ·(1 ± spread)`` (the default 0.5 makes λ 0.2 the authors' 0.1–0.3 range); λ = 0 (no fractal) is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from genmix_core.mixing import DEFAULT_LAM_RANGE
from genmix_core.train import get_condition

#: Which settings each condition takes. Conditions not listed take none (baseline, mixup, cutmix).
AXES: dict[str, tuple[str, ...]] = {
    "genmix": ("lam", "mask_set", "prompts"),
    "contrast_only": ("lam", "mask_set", "prompts"),
    "fractal_only": ("lam", "mask_set"),
    "hybrid_only": ("mask_set", "prompts"),
    "edits": ("prompts",),
}
REFERENCE = "baseline"


def lam_fields(lam: float, spread: float) -> dict:
    """``{"lam": λ}`` (fixed) or ``{"lam_range": (low, high)}`` (re-drawn per mix) for a nominal λ."""
    lam, spread = round(float(lam), 6), float(spread)
    if lam == 0.0 or spread == 0.0:
        return {"lam": lam}
    return {"lam_range": (round(lam * (1 - spread), 6), round(lam * (1 + spread), 6))}


@dataclass(frozen=True)
class Recipe:
    """One recipe.

    Attributes:
        condition: a name of :data:`genmix_core.train.CONDITIONS`.
        lam / lam_range: fixed λ, or the range it is drawn from per mix (conditions with a ``lam`` axis).
        mask_set: ``genmix`` or ``diffusemix`` (conditions with a ``mask_set`` axis).
        prompts: 1-based indices of the search's prompts it trains on (None: all of them).
        scale: budget as a multiple of the search's base budget.
    """

    condition: str
    lam: float | None = None
    lam_range: tuple[float, float] | None = None
    mask_set: str | None = None
    prompts: tuple[int, ...] | None = None
    scale: int = 1

    @property
    def axes(self) -> tuple[str, ...]:
        return AXES.get(self.condition, ())

    @property
    def nominal_lam(self) -> float | None:
        """λ for names and for the stored GenMix images of Generate: the fixed λ or the middle of the range."""
        if self.lam is not None:
            return float(self.lam)
        if self.lam_range is not None:
            return round((self.lam_range[0] + self.lam_range[1]) / 2, 6)
        return None

    @property
    def family(self) -> "Recipe":
        """The same recipe at scale 1 (a recipe's name without its budget)."""
        return replace(self, scale=1)

    @property
    def name(self) -> str:
        parts = [self.condition]
        if self.nominal_lam is not None:
            parts.append(f"lam{self.nominal_lam:g}")
        if self.mask_set:
            parts.append(self.mask_set)
        if self.prompts is not None:
            parts.append("p" + "+".join(str(i) for i in self.prompts))
        return "_".join(parts) + ("" if self.scale == 1 else f"@x{self.scale}")

    def at(self, scale: int) -> "Recipe":
        return replace(self, scale=int(scale))

    def with_prompts(self, prompts: tuple[int, ...] | None) -> "Recipe":
        return replace(self, prompts=None if prompts is None else tuple(sorted(prompts)))

    def mix_options(self) -> dict:
        """The pool's mix options (:func:`genmix_core.train.conditions.build_pool`)."""
        lam = {"lam": self.lam} if self.lam is not None else \
            {"lam_range": tuple(self.lam_range if self.lam_range is not None else DEFAULT_LAM_RANGE)}
        return {"mask_set": self.mask_set or "genmix", **lam}

    def prompt_texts(self, prompts: list[str]) -> list[str]:
        """The texts of the prompts it trains on (all of ``prompts`` when it picks none)."""
        if self.prompts is None:
            return list(prompts)
        return [prompts[i - 1] for i in self.prompts]

    def settings(self, prompts: list[str], base_steps: int, epochs: int, batch_size: int) -> dict:
        """Everything the recipe trains with, as ``search.json`` records it (enough to train it again)."""
        out: dict = {"condition": self.condition, "steps_scale": self.scale, "steps": int(base_steps) * self.scale,
                     "epochs": int(epochs) * self.scale, "batch_size": int(batch_size)}
        if "lam" in self.axes:
            out.update({"lam": self.lam} if self.lam is not None else {"lam_range": list(self.lam_range or ())})
        if "mask_set" in self.axes:
            out["mask_set"] = self.mask_set
        if get_condition(self.condition).needs_edits:
            out["prompts"] = self.prompt_texts(prompts)
        return out

    @classmethod
    def from_settings(cls, settings: dict, prompts: list[str]) -> "Recipe":
        """The recipe ``settings`` (:meth:`settings`) describe; ``prompts``: the search's prompts."""
        chosen = settings.get("prompts")
        idx = None
        if chosen is not None and "prompts" in AXES.get(settings["condition"], ()) and list(chosen) != list(prompts):
            idx = tuple(sorted(prompts.index(p) + 1 for p in chosen))
        rng = settings.get("lam_range")
        return cls(condition=settings["condition"], lam=settings.get("lam"),
                   lam_range=tuple(rng) if rng else None, mask_set=settings.get("mask_set"), prompts=idx,
                   scale=int(settings.get("steps_scale", 1)))


def grid(conditions: list[str], lams: list[float], spread: float, mask_sets: list[str], scale: int = 1) -> list[Recipe]:
    """Every recipe of the grid at ``scale``, conditions in the order given, then λ, then the mask set."""
    out = []
    for condition in conditions:
        axes = AXES.get(condition, ())
        for lam in (lams if "lam" in axes else [None]):
            for mask_set in (mask_sets if "mask_set" in axes else [None]):
                fields = lam_fields(lam, spread) if lam is not None else {}
                out.append(Recipe(condition, mask_set=mask_set, scale=scale, **fields))
    return list(dict.fromkeys(out))


def app_settings(settings: dict, search_config: dict) -> dict:
    """The settings an applied recipe gives the Generate and Train & Compare jobs.

    Args:
        settings: a recipe's :meth:`Recipe.settings` (from ``search.json``).
        search_config: the search's ``config`` (model, size, editor, prompt set...).

    Returns:
        ``{"generate": {GenerateConfig field: value} | None, "train": {CompareConfig field: value}}``.
        ``generate`` is None for a recipe that trains on no generated images. Train & Compare gets the recipe and
        the baseline at the recipe's budget (the epochs that give its steps), with the search's model settings.
    """
    condition = settings["condition"]
    conditions = list(dict.fromkeys([REFERENCE, condition]))
    train = {"conditions": conditions, "epochs": int(settings["epochs"]), "batch_size": int(settings["batch_size"])}
    for key in ("backbone", "finetune", "size", "lr", "editor", "model", "prompt_set"):
        train[key] = search_config.get(key)
    train["no_filter"] = bool(search_config.get("no_filter", False))
    uses_edits = get_condition(condition).needs_edits
    lam = None
    if settings.get("lam") is not None:
        train["lam"] = lam = float(settings["lam"])
    elif settings.get("lam_range"):
        train["lam_range"] = [float(v) for v in settings["lam_range"]]
        lam = round(sum(train["lam_range"]) / 2, 6)     # the stored images' λ: the middle (seeddata.stored_lam)
    if "mask_set" in settings:
        train["mask_set"] = settings["mask_set"]
    if not uses_edits:
        return {"generate": None, "train": train}
    train["prompts"] = list(settings["prompts"])
    generate = {"prompts": list(settings["prompts"]), "editor": search_config.get("editor"),
                "model": search_config.get("model"), "prompt_set": search_config.get("prompt_set"),
                "no_filter": train["no_filter"]}
    if "mask_set" in settings:
        generate["mask_set"] = settings["mask_set"]
    if lam is not None:
        generate["lam"] = float(lam)
    return {"generate": generate, "train": train}
