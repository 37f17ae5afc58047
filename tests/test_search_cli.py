"""``python -m genmix_core.search`` on tiny data: search.json as the issue asks, honest use of the photos (the
report part scored only at the end, only for the chosen recipe and its reference; poisoned report labels change
nothing in the choice), replays, the fallback for too few on-site photos, bad arguments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmix_core.report import build_search_report, fig_recipes, recipe_lines
from genmix_core.search import load_search
from genmix_core.search.cli import main
from genmix_core.train import compute_verdict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--backbone", "small_cnn", "--size", "16", "--batch-size", "8", "--epochs", "2", "--seeds", "0,1",
        "--prompts", "dim lighting,motion blur", "--lams", "0,0.2", "--mask-sets", "genmix,diffusemix",
        "--steps-scale", "1,2", "--no-filter"]


def make_photos(root: Path, per_class: int, seed: int, cast: float = 0.0) -> Path:
    """Two classes told apart by a weak colour tint under strong per-photo casts and pixel noise: small models
    disagree on them, so recipes score differently (on-site photos get an extra cast)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("red", "blue")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            d = (15 if k == 0 else -15) + rng.normal(cast, 20)
            arr = np.clip(rng.normal([120 + d, 110, 120 - d], 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def first_search(tmp_path_factory):
    """One finished search (data, on-site photos, its folder and search.json), shared by the tests below."""
    root = tmp_path_factory.mktemp("search")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENMIX_WORKSPACE", str(root / "workspace"))
        data, onsite = make_photos(root / "lab", 10, seed=0), make_photos(root / "line", 8, seed=1, cast=8)
        out = root / "out"
        assert main(["--data", str(data), "--test", str(onsite), "--out", str(out), *TINY]) == 0
    return data, onsite, out, load_search(out)


def _scores(search):
    return {r["name"]: r["selection"]["per_seed"] for r in search["recipes"]}


def test_search_json_holds_recipes_choice_report_verdict_split_grid_and_budget(first_search):
    _, _, out, search = first_search
    assert search["status"] == "done"
    for key in ("recipes", "chosen", "report", "verdict", "split", "grid", "budget", "config", "usage"):
        assert key in search
    for r in search["recipes"]:
        assert set(r) >= {"name", "settings", "selection"} and set(r["selection"]) >= {"mean", "per_seed"}
        assert r["selection"]["mean"] == pytest.approx(np.mean(list(r["selection"]["per_seed"].values())))
        assert r["settings"]["steps"] == search["budget"]["base_steps"] * r["settings"]["steps_scale"]
    # The choice: the best selection mean among the recipes scored on every seed (ties: the baseline first).
    complete = [r for r in search["recipes"] if r["complete"]]
    best = max(r["selection"]["mean"] for r in complete)
    assert next(r for r in search["recipes"] if r["name"] == search["chosen"])["selection"]["mean"] == best
    assert {len(r["selection"]["per_seed"]) for r in complete} == {2}
    # Both budgets were compared with matched steps: the baseline and the finalist (default 1) at x1 and x2.
    at_x2 = [r for r in search["recipes"] if r["settings"]["steps_scale"] == 2]
    assert len(at_x2) == 2 and {r["settings"]["steps"] for r in at_x2} == {2 * search["budget"]["base_steps"]}
    assert "baseline@x2" in {r["name"] for r in at_x2}
    assert search["grid"]["recipes"][:4] == ["baseline", "mixup", "cutmix", "edits"] and len(search["grid"]["recipes"]) == 8
    # The report part: the chosen recipe and its reference at every seed; the verdict is the meeting report's.
    report = search["report"]
    assert report["chosen"]["name"] == search["chosen"] and set(report["chosen"]["per_seed"]) == {"0", "1"}
    finals = [json.loads(p.read_text()) for p in sorted((out / "final").glob("*.json"))]
    name, at, scale = search["chosen"].partition("@")
    expected = ("baseline" if scale else None) if name == "baseline" else "baseline" + at + scale
    assert search["reference"] == expected
    if expected:
        assert report["baseline"]["name"] == expected
        (entry,) = [e for e in compute_verdict(finals, [search["reference"], search["chosen"]],
                                               reference=search["reference"]) if e["domain"] == "onsite"]
        assert search["verdict"] == entry
    assert not (out / "weights").exists()          # the weights served the report stage and are gone
    assert search["prompt_stage"]["base"] in {r["name"] for r in search["recipes"]}


def test_the_report_part_is_scored_once_at_the_end_for_the_chosen_recipe_and_its_reference(first_search):
    _, onsite, _, search = first_search
    usage, split = search["usage"], search["split"]
    selection = [u for u in usage if u["stage"] != "report"]
    report = [u for u in usage if u["stage"] == "report"]
    assert {u["part"] for u in selection} == {"selection"} and {u["part"] for u in report} == {"report"}
    assert usage.index(report[0]) == len(selection)          # every selection scoring came before
    assert {u["recipe"] for u in report} == {search["chosen"], search["reference"]} - {None}
    assert sorted((u["recipe"], u["seed"]) for u in report) == sorted(
        {(u["recipe"], u["seed"]) for u in report})           # once per recipe and seed
    parts = {p["rel"]: p["part"] for p in split["photos"]}
    assert len(parts) == 16 and set(parts.values()) == {"selection", "report"}
    assert {u["n"] for u in selection} == {sum(1 for v in parts.values() if v == "selection")}
    assert {u["n"] for u in report} == {sum(1 for v in parts.values() if v == "report")}
    assert split["counts"] == {"selection": {"blue": 4, "red": 4}, "report": {"blue": 4, "red": 4}}


def test_poisoned_report_labels_and_a_replay_give_the_same_choice(first_search, tmp_path):
    data, onsite, out, search = first_search
    # Replay: the same settings and the recorded split give the same scores, the same choice, the same check.
    replay = tmp_path / "replay"
    assert main(["--data", str(data), "--test", str(onsite), "--out", str(replay), "--split-from", str(out), *TINY]) == 0
    again = load_search(replay)
    assert (again["chosen"], _scores(again), again["report"]) == (search["chosen"], _scores(search), search["report"])
    # Poison: every report photo moved into the other class folder. Selection must not notice.
    poisoned = tmp_path / "poisoned"
    shutil.copytree(onsite, poisoned)
    other = {"red": "blue", "blue": "red"}
    for photo in search["split"]["photos"]:
        if photo["part"] == "report":
            label, name = photo["rel"].split("/")
            (poisoned / photo["rel"]).rename(poisoned / other[label] / f"poisoned_{name}")
    out_b = tmp_path / "poisoned_run"
    assert main(["--data", str(data), "--test", str(poisoned), "--out", str(out_b), "--split-from", str(out), *TINY]) == 0
    b = load_search(out_b)
    assert b["chosen"] == search["chosen"] and _scores(b) == _scores(search)
    assert b["report"]["chosen"]["per_seed"] != search["report"]["chosen"]["per_seed"]    # the poison was read, late


def test_too_few_on_site_photos_select_on_held_out_training_photos_as_weaker_evidence(tmp_path):
    data, onsite = make_photos(tmp_path / "lab", 10, seed=0), make_photos(tmp_path / "line", 2, seed=1, cast=8)
    out = tmp_path / "out"
    assert main(["--data", str(data), "--test", str(onsite), "--out", str(out), *TINY,
                 "--conditions", "baseline,mixup", "--steps-scale", "1"]) == 0
    search = load_search(out)
    split = search["split"]
    assert (split["mode"], split["reason"], split["weaker_evidence"]) == ("training_domain", "too_few", True)
    assert {p["part"] for p in split["photos"]} == {"report"} and len(split["photos"]) == 4
    held = {seed: set(v["selection"]) for seed, v in split["per_seed"].items()}
    assert set(held) == {"0", "1"} and all(held.values())
    assert {u["part"] for u in search["usage"] if u["stage"] != "report"} == {"training_holdout"}
    assert {u["part"] for u in search["usage"] if u["stage"] == "report"} == {"report"}
    lines = [text for text, _ in recipe_lines(search, "en")]
    blocks = build_search_report(search, "en").blocks
    assert any(b.kind == "text" and b.text.startswith("Weaker evidence: there were too few on-site photos")
               for b in blocks), lines
    assert any("根拠は弱めです" in b.text for b in build_search_report(search, "ja").blocks if b.kind == "text")


def test_the_chart_ranks_every_recipe_with_error_bars_where_several_seeds_ran(first_search):
    search = first_search[3]
    fig = fig_recipes(search, "en")
    one, every = fig.data
    assert len(one.x) + len(every.x) == len(search["recipes"])
    assert one.error_x.array is None and len(every.error_x.array) == len(every.x)
    assert list(every.error_x.array) == [r["selection"]["std"] for r in
                                         sorted((r for r in search["recipes"] if r["complete"]),
                                                key=lambda r: r["selection"]["mean"])]
    assert "star" in every.marker.symbol


@pytest.mark.parametrize("argv, fragment", [
    (["--lams", "0.8"], "--lam-spread 0.5 does not fit"),
    (["--eta", "1"], "--eta 1 is too small"),
    (["--conditions", "baseline,magic"], "Unknown condition 'magic'"),
    (["--mask-sets", "stripes"], "Unknown mask set 'stripes'"),
    (["--split-from", "{tmp}/nowhere"], "No recorded split was found"),
])
def test_bad_arguments_exit_2_with_the_fix(tmp_path, capsys, argv, fragment):
    data = make_photos(tmp_path / "lab", 3, seed=0)
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["--data", str(data), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and "\n" not in err
