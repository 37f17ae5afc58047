"""The search schedule without training: recipes, successive halving, the prompt stage, the larger budgets and the
choice, driven by a scoring function that stands in for training (it only ever sees (recipe, seed))."""

from __future__ import annotations

import math

import pytest

from genmix_core.search import Recipe, app_settings, grid, run_schedule
from genmix_core.search.plan import planned_runs, prompt_subset

CONDITIONS = ["baseline", "mixup", "cutmix", "edits", "genmix"]


def _grid():
    return grid(CONDITIONS, [0.0, 0.05, 0.1, 0.2], 0.5, ["genmix", "diffusemix"])


def _scorer(table, calls):
    """Score = the table's value for the recipe's name (default 0.5) + 0.01 per seed; every call is recorded."""
    def evaluate(recipe, seed, stage):
        calls.append((recipe.name, seed, stage))
        return table.get(recipe.name, 0.5) + 0.01 * seed
    return evaluate


def test_the_grid_crosses_each_condition_with_its_own_axes_only():
    names = [r.name for r in _grid()]
    assert names[:4] == ["baseline", "mixup", "cutmix", "edits"]
    assert len(names) == 4 + 4 * 2 and len(set(names)) == len(names)
    assert "genmix_lam0.05_diffusemix" in names and "genmix_lam0_genmix" in names
    by_name = {r.name: r for r in _grid()}
    assert by_name["genmix_lam0.2_genmix"].lam_range == (0.1, 0.3)          # the authors' range
    assert by_name["genmix_lam0_genmix"].lam == 0.0 and by_name["genmix_lam0_genmix"].lam_range is None
    assert by_name["edits"].lam is None and by_name["edits"].mask_set is None
    fixed = {r.name: r for r in grid(["genmix"], [0.1], 0.0, ["genmix"])}
    assert fixed["genmix_lam0.1_genmix"].lam == 0.1                        # spread 0: λ fixed


def test_settings_name_everything_the_recipe_trains_with_and_read_back():
    prompts = ["dim lighting", "motion blur", "dusty camera lens"]
    recipe = Recipe("genmix", lam_range=(0.025, 0.075), mask_set="diffusemix", prompts=(1, 3), scale=4)
    settings = recipe.settings(prompts, base_steps=40, epochs=10, batch_size=32)
    assert settings == {"condition": "genmix", "steps_scale": 4, "steps": 160, "epochs": 40, "batch_size": 32,
                        "lam_range": [0.025, 0.075], "mask_set": "diffusemix",
                        "prompts": ["dim lighting", "dusty camera lens"]}
    assert Recipe.from_settings(settings, prompts) == recipe
    assert recipe.name == "genmix_lam0.05_diffusemix_p1+3@x4"
    assert Recipe("mixup").settings(prompts, 40, 10, 32) == {"condition": "mixup", "steps_scale": 1, "steps": 40,
                                                              "epochs": 10, "batch_size": 32}


def test_app_settings_give_generate_and_train_the_recipe_exactly():
    search_cfg = {"backbone": "small_cnn", "finetune": "head", "size": 64, "lr": None, "editor": "offline",
                  "model": None, "prompt_set": "factory"}
    settings = Recipe("genmix", lam_range=(0.05, 0.15), mask_set="diffusemix", prompts=(2,), scale=4).settings(
        ["a", "b"], 40, 10, 32)
    out = app_settings(settings, search_cfg)
    assert out["generate"] == {"prompts": ["b"], "editor": "offline", "model": None, "prompt_set": "factory",
                               "no_filter": False, "mask_set": "diffusemix", "lam": 0.1}
    assert out["train"] == {"conditions": ["baseline", "genmix"], "epochs": 40, "batch_size": 32, "backbone": "small_cnn",
                            "finetune": "head", "size": 64, "lr": None, "editor": "offline", "model": None,
                            "prompt_set": "factory", "no_filter": False, "lam_range": [0.05, 0.15],
                            "mask_set": "diffusemix", "prompts": ["b"]}
    plain = app_settings(Recipe("cutmix").settings(["a"], 40, 10, 32), search_cfg)
    assert plain["generate"] is None and plain["train"]["conditions"] == ["baseline", "cutmix"]
    assert "lam" not in plain["train"] and "mask_set" not in plain["train"]


def test_successive_halving_gives_the_promising_recipes_every_seed_and_the_finalists_a_longer_budget():
    table = {"genmix_lam0.05_diffusemix": 0.9, "edits": 0.8, "mixup": 0.7, "genmix_lam0.1_genmix": 0.65,
             "baseline": 0.6}
    calls = []
    state = run_schedule(_grid(), seeds=[0, 1, 2], scales=[1, 4], eta=3, finalists=2, n_prompts=1,
                         prompt_search=True, evaluate=_scorer(table, calls))
    assert len(calls) == len(set(calls))                                     # nothing scored twice
    first = [c for c in calls if c[2] == "rung0"]
    assert {c[0] for c in first} == {r.name for r in _grid()} and {c[1] for c in first} == {0}
    rung1 = {c[0] for c in calls if c[2] == "rung1"}
    kept = math.ceil(12 / 3)
    assert rung1 == {"genmix_lam0.05_diffusemix", "edits", "mixup", "genmix_lam0.1_genmix", "baseline"}
    assert len(rung1 - {"baseline"}) == kept
    assert {(n, s) for n, s, st in calls if st == "rung1"} == {(n, s) for n in rung1 for s in (1, 2)}
    longer = {(n, s) for n, s, st in calls if st == "x4"}
    assert longer == {(n, s) for n in ("baseline@x4", "genmix_lam0.05_diffusemix@x4", "edits@x4") for s in (0, 1, 2)}
    assert state.chosen.name == "genmix_lam0.05_diffusemix"                # the best mean over every seed
    assert len(calls) <= len(planned_runs(12, seeds=[0, 1, 2], scales=[1, 4], eta=3, finalists=2, n_prompts=1,
                                          prompt_search=True, edit_recipes=True))


def test_the_prompt_stage_leaves_out_each_prompt_and_tries_the_subset_that_helped():
    # Prompt 2 hurts the best edit recipe: without it the score rises, so the subset drops it.
    table = {"genmix_lam0.1_genmix": 0.8, "genmix_lam0.1_genmix_p2+3": 0.75, "genmix_lam0.1_genmix_p1+3": 0.85,
             "genmix_lam0.1_genmix_p1+2": 0.8}
    calls = []
    state = run_schedule(_grid(), seeds=[0], scales=[1], eta=3, finalists=2, n_prompts=3, prompt_search=True,
                         evaluate=_scorer(table, calls))
    stage = [c[0] for c in calls if c[2] == "prompts"]
    assert stage[:3] == ["genmix_lam0.1_genmix_p2+3", "genmix_lam0.1_genmix_p1+3", "genmix_lam0.1_genmix_p1+2"]
    assert state.prompts["base"] == "genmix_lam0.1_genmix"
    assert state.prompts["effects"] == pytest.approx({"1": 0.8 - 0.75, "2": 0.8 - 0.85, "3": 0.0})
    assert state.prompts["subset"] == [1, 3]
    # The subset is the leave-one-out recipe without prompt 2: already scored, not trained again.
    assert state.prompts["subset_recipe"] == "genmix_lam0.1_genmix_p1+3" and len(stage) == 3
    assert state.chosen.name == "genmix_lam0.1_genmix_p1+3"
    assert prompt_subset({1: -0.1, 2: -0.05}) == (2,)                       # none helped: the least harmful


def test_ties_go_to_the_baseline_and_the_same_scores_give_the_same_path():
    calls_a, calls_b = [], []
    a = run_schedule(_grid(), seeds=[0, 1], scales=[1, 2], eta=3, finalists=2, n_prompts=2, prompt_search=True,
                     evaluate=_scorer({}, calls_a))
    b = run_schedule(_grid(), seeds=[0, 1], scales=[1, 2], eta=3, finalists=2, n_prompts=2, prompt_search=True,
                     evaluate=_scorer({}, calls_b))
    assert a.chosen == Recipe("baseline") and calls_a == calls_b and a.stages == b.stages
