"""Few-shot curve of Train & Compare: k originals per class, same test set, results round trip, report."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genmix_core.generate import manifest
from genmix_core.train import CompareConfig, load_results
from genmix_core.jobconfig import to_argv as cli_args
from genmix_core.train.cli import config_from_args, main
from genmix_core.errors import UserError
from genmix_core.train.fewshot import few_shot_indices
from test_compare_cli import make_folder

# The runs count originals and edits of random coloured pictures: the quality filter is off (--no-filter; its
# effect on training: tests/test_quality_training.py).
ARGS = ["--epochs", "1", "--seeds", "0,1", "--backbone", "small_cnn", "--size", "16", "--batch-size", "4",
        "--eps", "2/255", "--pgd-steps", "1", "--prompts", "dim lighting,motion blur", "--no-filter"]


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    root = tmp_path_factory.mktemp("fs")
    lab, line = make_folder(root / "lab", 6), make_folder(root / "line", 2, shift=40, seed=1)
    out = root / "out"
    assert main(["--data", str(lab), "--test", str(line), "--out", str(out), "--conditions", "baseline,genmix",
                 "--few-shot", "2,1", *ARGS]) == 0
    return lab, line, out


def _few_runs(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "fewshot").glob("k*/*.json"))]


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4), k=st.integers(1, 10), seed=st.integers(0, 99))
def test_draw_takes_k_per_class_and_smaller_draws_are_nested(sizes, k, seed):
    train = pd.DataFrame({"label": [f"c{i}" for i, n in enumerate(sizes) for _ in range(n)]})
    chosen = few_shot_indices(train, k, seed)
    counts = train.loc[chosen, "label"].value_counts().to_dict()
    assert counts == {f"c{i}": min(k, n) for i, n in enumerate(sizes)}
    assert set(few_shot_indices(train, max(1, k - 1), seed)) <= set(chosen)


def test_each_run_uses_k_originals_per_class_and_only_their_edits(curve):
    _, _, out = curve
    runs = _few_runs(out)
    assert sorted((r["few_shot"]["k"], r["condition"], r["seed"]) for r in runs) == sorted(
        (k, c, s) for k in (1, 2) for c in ("baseline", "genmix") for s in (0, 1))
    res = load_results(out)
    for r in runs:
        held = set(res["split"]["per_seed"][str(r["seed"])]["test_images"])     # each seed draws its split
        k, used = r["few_shot"]["k"], r["few_shot"]["train_images"]
        assert pd.Series([u.split("/")[0] for u in used]).value_counts().to_dict() == {
            "red": k, "green": k, "blue": k}
        assert not set(used) & held
        n_edits = 2 * 3 * k if r["condition"] == "genmix" else 0    # two prompts per chosen original
        assert r["stats"]["pool_size"] == 3 * k + n_edits
        if r["condition"] == "genmix":
            assert r["few_shot"]["n_edits"] == n_edits
    # Another seed draws other originals (5 training images per class here).
    by_seed = {r["seed"]: set(r["few_shot"]["train_images"]) for r in runs
               if r["few_shot"]["k"] == 2 and r["condition"] == "baseline"}
    assert by_seed[0] != by_seed[1]


def test_held_out_set_is_the_same_for_every_k_and_budget_follows_the_rule(curve):
    _, _, out = curve
    res = load_results(out)
    n_test = res["split"]["n_test"]
    for r in _few_runs(out):
        assert int(sum(map(sum, r["in_domain"]["confusion"]))) == n_test
        assert int(sum(map(sum, r["cross_domain"]["confusion"]))) == res["cross_domain"]["n"]
    fs = res["few_shot"]
    assert fs["ks"] == [1, 2]
    for k in (1, 2):
        point = fs["points"][str(k)]
        steps = -(-3 * k // 4)                                 # 1 epoch over 3k originals, batch 4
        assert point["budget"] == {"steps": steps, "batch_size": 4, "samples": steps * 4}
        for cond in ("baseline", "genmix"):
            s = point["conditions"][cond]
            assert s["steps"] == steps and s["seeds"] == [0, 1]
            assert s["accuracy"]["n"] == 2 and 0 <= s["accuracy"]["mean"] <= 1
            assert s["cross_domain_accuracy"]["n"] == 2
    assert set(res["conditions"]) == {"baseline", "genmix"}   # the full-data runs are still there


def test_curve_json_round_trip_and_resume_skips_finished_runs(curve, tmp_path):
    lab, line, out = curve
    res = load_results(out)
    assert res["few_shot"] == json.loads((out / "results.json").read_text(encoding="utf-8"))["few_shot"]
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    before = {p: p.read_bytes() for p in copy.glob("fewshot/k*/*.json")}
    assert main(["--data", str(lab), "--test", str(line), "--out", str(copy), "--conditions", "baseline,genmix",
                 "--few-shot", "1,2", *ARGS]) == 0
    assert {p: p.read_bytes() for p in copy.glob("fewshot/k*/*.json")} == before
    assert json.loads((copy / "job.json").read_text())["extra"]["runs"] == 0      # nothing left to train
    assert load_results(copy)["few_shot"]["points"] == res["few_shot"]["points"]


def test_few_shot_leaves_full_runs_valid_and_round_trips_the_cli(curve):
    _, _, out = curve
    plain = CompareConfig(data=str(out), out=str(out))
    assert plain.fingerprint() == CompareConfig(data=str(out), out=str(out), few_shot=[1, 5]).fingerprint()
    assert plain.few_shot_fingerprint(1) != plain.few_shot_fingerprint(2)
    cfg = config_from_args(["--data", str(out), "--out", str(out), "--few-shot", "10,1,2"])
    assert config_from_args(cli_args(cfg.validated())).validated().few_shot == [1, 2, 10]
    with pytest.raises(UserError) as err:
        CompareConfig(data=str(out), out=str(out), few_shot=[0, 2]).validated()
    assert err.value.key == "err.train.bad_few_shot" and "少数ショット" in err.value.message("ja")
    with pytest.raises(SystemExit):
        config_from_args(["--data", "d", "--out", "o", "--few-shot", "a,2"])


def test_generation_edits_training_originals_only(curve):
    _, _, out = curve
    res = load_results(out)
    for seed, split in res["split"]["per_seed"].items():
        images = set(manifest.load_manifest(out / "generation" / f"seed{seed}")["image"])
        assert len(images) == res["split"]["n_train"] and not images & set(split["test_images"])


def test_report_shows_the_curve_only_when_present(curve):
    from genmix_core.report import export_html
    from genmix_core.report.charts import all_figures, fig_few_shot

    _, _, out = curve
    res = load_results(out)
    fig = fig_few_shot(res, "ja")
    assert list(fig.data[0].x) == [1, 2] and len(fig.data) == 4        # 2 conditions x (in-domain, 2nd domain)
    assert fig.layout.xaxis.title.text == "クラスあたりの元の学習写真の枚数（k）"
    for lang in ("en", "ja"):
        title = fig_few_shot(res, lang).layout.title.text
        page = export_html(res, lang)
        assert title in page or json.dumps(title)[1:-1] in page    # plotly's JSON may escape non-ASCII
        assert ("k=1" in page and "k=2" in page)                    # the per-k budget caption
        assert any(f.layout.title.text == title for f in all_figures(res, lang))
    del res["few_shot"]
    assert "Few-shot" not in export_html(res, "en")
    assert len(all_figures(res, "en", confusion=False)) == len(all_figures(load_results(out), "en",
                                                                            confusion=False)) - 1
