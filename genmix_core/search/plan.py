"""The search schedule: successive halving over the grid, a prompt stage, larger budgets for the finalists.

Stages (each run scores one recipe at one seed on the selection part; the schedule only ever sees those
scores, never the report part):

1. ``rung0``: every recipe of the grid at the base budget, on the first seed.
2. ``prompts`` (when ``prompt_search`` and two or more prompts): the best ``rung0`` recipe that trains on edits
   is trained again without each prompt in turn (leave-one-out, first seed). A prompt's effect is the score
   with it minus the score without it. The subset keeps the prompts whose removal did not raise the score (the
   one with the largest effect when that leaves none); it is trained too when it differs from every recipe so
   far.
3. ``rung1``: the best ``ceil(n / eta)`` recipes so far by first-seed score, and always the baseline, get the
   other seeds (more seeds for the promising recipes).
4. ``x<scale>`` for each further budget of ``steps_scale``: the ``finalists`` best ``rung1`` recipes (by their
   mean over seeds) and the baseline, every seed, at that many times the base steps: recipes are compared at
   each budget with the same steps.

The chosen recipe is the best selection mean among the recipes scored on every seed (``rung1`` and the larger
budgets). Ties go to the baseline (a change must earn its place), then to the smaller budget, then to the grid
order. Ordering and ties use the scores only, so the same scores always give the same schedule and choice: a
resumed or replayed search takes the same path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from genmix_core.search.recipes import REFERENCE, Recipe

#: ``evaluate(recipe, seed, stage) -> selection accuracy``.
Evaluate = Callable[[Recipe, int, str], float]


@dataclass
class ScheduleState:
    """What the schedule did: every score, the stages in order, the prompt stage and the choice."""

    scores: dict[Recipe, dict[int, float]] = field(default_factory=dict)
    order: list[Recipe] = field(default_factory=list)
    stage_of: dict[Recipe, str] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    prompts: dict | None = None
    chosen: Recipe | None = None

    def mean(self, recipe: Recipe) -> float:
        values = list(self.scores.get(recipe, {}).values())
        return float(np.mean(values)) if values else float("nan")


def _key(value: float) -> float:
    return round(float(value), 9)      # equal accuracies compare equal despite float sums


def _positions(order: list[Recipe]) -> dict[Recipe, int]:
    """Where each recipe (at any budget) first appeared: the tie-break order."""
    pos: dict[Recipe, int] = {}
    for i, r in enumerate(order):
        pos.setdefault(r.family, i)
    return pos


def rank(recipes: list[Recipe], score: Callable[[Recipe], float], order: list[Recipe]) -> list[Recipe]:
    """Best first; ties in grid order."""
    pos = _positions(order)
    return sorted(recipes, key=lambda r: (-_key(score(r)), pos.get(r.family, len(pos)), r.scale))


def promote(candidates: list[Recipe], score: Callable[[Recipe], float], order: list[Recipe], eta: int) -> list[Recipe]:
    """The ``rung1`` recipes: the best ``ceil(n / eta)`` candidates, and the baseline."""
    ranked = rank(candidates, score, order)
    keep = ranked[:max(1, math.ceil(len(ranked) / int(eta)))]
    base = [r for r in candidates if r.condition == REFERENCE]
    return list(dict.fromkeys(keep + base))


def prompt_subset(effects: dict[int, float]) -> tuple[int, ...]:
    """Prompts whose removal did not raise the score (the largest effect alone when none is left)."""
    kept = tuple(sorted(i for i, e in effects.items() if _key(e) >= 0))
    if kept:
        return kept
    return (max(sorted(effects), key=lambda i: _key(effects[i])),)


def choose(candidates: list[Recipe], state: ScheduleState) -> Recipe:
    """The best selection mean; ties: the baseline, then the smaller budget, then the grid order."""
    pos = _positions(state.order)
    return min(candidates, key=lambda r: (-_key(state.mean(r)), r.condition != REFERENCE, r.scale,
                                          pos.get(r.family, len(pos)), r.name))


def run_schedule(grid: list[Recipe], *, seeds: list[int], scales: list[int], eta: int, finalists: int,
                 n_prompts: int, prompt_search: bool, evaluate: Evaluate,
                 state: ScheduleState | None = None) -> ScheduleState:
    """Run the schedule (see the module docstring) with ``evaluate`` scoring each (recipe, seed) once.

    Args:
        state: an empty state to fill (the caller can read it while the schedule runs), or None for a new one.
    """
    state = ScheduleState() if state is None else state
    first = seeds[:1]

    def run(stage: str, recipes: list[Recipe], run_seeds: list[int]) -> None:
        todo = [(r, s) for r in recipes for s in run_seeds if s not in state.scores.get(r, {})]
        for r in recipes:
            if r not in state.stage_of:
                state.order.append(r)
                state.stage_of[r] = stage
        state.stages.append({"stage": stage, "recipes": [r.name for r in recipes], "seeds": list(run_seeds),
                             "runs": len(todo)})
        for r, s in todo:
            state.scores.setdefault(r, {})[s] = float(evaluate(r, s, stage))

    def first_score(r: Recipe) -> float:
        return state.scores[r][first[0]]

    run("rung0", grid, first)
    candidates = list(grid)
    users = [r for r in grid if "prompts" in r.axes]
    if prompt_search and n_prompts >= 2 and users:
        best = rank(users, first_score, state.order)[0]
        everyone = tuple(range(1, n_prompts + 1))
        loo = {i: best.with_prompts(tuple(p for p in everyone if p != i)) for i in everyone}
        run("prompts", list(loo.values()), first)
        effects = {i: first_score(best) - first_score(r) for i, r in loo.items()}
        subset = prompt_subset(effects)
        tried = list(loo.values())
        subset_recipe = best.with_prompts(None if subset == everyone else subset)
        if subset_recipe not in state.scores:
            run("prompts", [subset_recipe], first)
            tried.append(subset_recipe)
        candidates += [r for r in tried if r not in candidates]
        state.prompts = {"base": best.name, "effects": {str(i): e for i, e in effects.items()},
                         "subset": list(subset), "subset_recipe": subset_recipe.name}
    promoted = promote(candidates, first_score, state.order, eta)
    run("rung1", promoted, list(seeds))
    eligible = list(promoted)
    top = [r for r in rank(promoted, state.mean, state.order) if r.condition != REFERENCE][:max(0, int(finalists))]
    base = next(r for r in promoted if r.condition == REFERENCE)
    for scale in scales[1:]:
        at = [r.at(scale) for r in [base, *top]]
        run(f"x{scale}", at, list(seeds))
        eligible += at
    state.chosen = choose(eligible, state)
    return state


def planned_runs(n_grid: int, *, seeds: list[int], scales: list[int], eta: int, finalists: int, n_prompts: int,
                 prompt_search: bool, edit_recipes: bool) -> list[int]:
    """The budget scale of every run the schedule may make (an upper bound: the prompt subset is counted even
    when it turns out to be a recipe already scored), for the job's time plan."""
    runs = [scales[0]] * n_grid
    n = n_grid
    if prompt_search and n_prompts >= 2 and edit_recipes:
        runs += [scales[0]] * (n_prompts + 1)
        n += n_prompts + 1
    promoted = max(1, math.ceil(n / int(eta))) + 1
    runs += [scales[0]] * (promoted * (len(seeds) - 1))
    for scale in scales[1:]:
        runs += [scale] * ((min(int(finalists), promoted) + 1) * len(seeds))
    return runs


@dataclass(frozen=True)
class SearchEstimate:
    """What a search will do and how long it takes here (seconds; an upper bound, see :func:`planned_runs`)."""

    runs: int
    images: int
    generation_s: float
    train_s: float

    @property
    def total_s(self) -> float:
        return self.generation_s + self.train_s


def estimate_search(cfg, class_counts: list[int], n_selection: int, n_prompts: int, units,
                    per_image_s: float = 0.0) -> SearchEstimate:
    """The plan of a :class:`~genmix_core.search.SearchConfig` on training classes of these sizes.

    Args:
        n_selection: photos of the selection part (each run scores them once).
        n_prompts: prompts of the generation step (its images, and the prompt stage's runs).
        units: this machine's :class:`~genmix_core.train.UnitCosts`; ``per_image_s``: one generated image.
    """
    from genmix_core.search.recipes import grid
    from genmix_core.train import get_condition, planned_budget
    from genmix_core.train.estimate import run_seconds

    counts = [int(n) for n in class_counts if int(n) >= 2]
    base = planned_budget(counts, cfg.epochs, cfg.batch_size, cfg.test_fraction)
    recipes = grid(cfg.conditions, cfg.lams, cfg.lam_spread, cfg.mask_sets)
    scales = planned_runs(len(recipes), seeds=list(cfg.seeds), scales=list(cfg.steps_scale), eta=cfg.eta,
                          finalists=cfg.finalists, n_prompts=n_prompts, prompt_search=cfg.prompt_search,
                          edit_recipes=any("prompts" in r.axes for r in recipes))
    train_s = sum(sum(run_seconds(units, steps=base.steps * s, batch=cfg.batch_size, size=cfg.size,
                                  n_test=n_selection, n_cross=0, eps_count=0, pgd_steps=0)) for s in scales)
    edits = any(get_condition(r.condition).needs_edits for r in recipes) and not cfg.edits
    images = sum(counts) * n_prompts if edits else 0
    return SearchEstimate(len(scales), images, images * per_image_s, train_s)
