"""The headless comparison: CLI on a tiny dataset, resume, split by original, results reload, report export."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmix_core.train import RESULTS_FILE, load_results, run_compare
from genmix_core.train.cli import main
from genmix_core.errors import UserError
from genmix_core.train.loop import Cancelled
from genmix_core.train.data import attach_edits, prepare_data, scan_images, split_originals

COLORS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}


def make_folder(root: Path, per_class: int, shift: int = 0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, color in COLORS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.clip(rng.normal(color, 30, (20, 20, 3)) + shift, 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_folder(root / "lab", 5), make_folder(root / "line", 2, shift=40, seed=1)


# These tests count pools and budgets over random coloured pictures: the generation step's quality filter, whose
# verdicts on such pictures mean nothing, is off (--no-filter). The default-on filter's effect on training:
# tests/test_quality_training.py.
ARGS = ["--epochs", "1", "--seeds", "0,1", "--backbone", "small_cnn", "--size", "16", "--batch-size", "4",
        "--eps", "2/255", "--pgd-steps", "2", "--prompts", "dim lighting,motion blur", "--no-filter"]


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    lab, line = tiny
    out = tmp_path_factory.mktemp("run") / "out"
    rc = main(["--data", str(lab), "--test", str(line), "--out", str(out),
               "--conditions", "baseline,genmix,mixup,cutmix,edits", *ARGS])
    assert rc == 0
    return out


def test_cli_writes_matched_budget_results(finished, capsys):
    res = load_results(finished)
    from genmix_core.report.charts import conditions_in_order

    assert res["status"] == "done"
    assert conditions_in_order(res) == ["baseline", "genmix", "mixup", "cutmix", "edits"]
    n_train = res["split"]["n_train"]
    assert (n_train, res["split"]["n_test"]) == (12, 3)          # 1 of 5 per class held out
    budget = res["budget"]
    assert budget["steps"] == 3 and budget["samples"] == 12      # 1 epoch over 12 originals, batch 4
    pools = {}
    for cond, s in res["conditions"].items():
        assert (s["steps"], s["samples"]) == (budget["steps"], budget["samples"]), cond
        assert s["seeds"] == [0, 1] and s["accuracy"]["n"] == 2
        assert 0 <= s["accuracy"]["mean"] <= 1 and s["accuracy"]["std"] >= 0
        assert s["cross_domain_accuracy"]["n"] == 2
        assert set(s["fgsm_accuracy"]) == set(s["pgd_accuracy"]) == {"2/255"}
        assert np.sum(s["confusion"]) == 2 * 3 and np.sum(s["cross_domain_confusion"]) == 2 * 6
        pools[cond] = s["pool_size"]
    # Two prompts per training original; edits of the 3 held-out originals are not in the pool.
    assert pools == {"baseline": 12, "mixup": 12, "cutmix": 12, "genmix": 36, "edits": 36}
    assert res["generation"]["n_edits"] == 24
    assert res["timings"]["prepare_s"] >= 0 and res["timings"]["generation_s"] > 0
    for run in res["runs"]:
        assert run["stats"]["steps"] == 3 and run["stats"]["samples"] == 12


def test_results_reload_and_reject_other_files(finished, tmp_path):
    res = load_results(finished / RESULTS_FILE)
    assert res == json.loads((finished / RESULTS_FILE).read_text(encoding="utf-8"))
    (tmp_path / RESULTS_FILE).write_text('{"kind": "generate"}')
    with pytest.raises(UserError, match="not a Train & Compare result"):
        load_results(tmp_path)


def test_rerun_skips_finished_runs_and_a_changed_setting_retrains(finished, tiny, tmp_path):
    import shutil

    lab, line = tiny
    finished = Path(shutil.copytree(finished, tmp_path / "copy"))
    before = {p.name: p.read_bytes() for p in (finished / "runs").iterdir()}
    assert main(["--data", str(lab), "--test", str(line), "--out", str(finished),
                 "--conditions", "baseline,genmix,mixup,cutmix,edits", *ARGS]) == 0
    assert {p.name: p.read_bytes() for p in (finished / "runs").iterdir()} == before
    job = json.loads((finished / "job.json").read_text())
    assert job["status"] == "done" and job["extra"]["runs"] == 0 and job["done"] == job["total"]  # nothing left
    assert main(["--data", str(lab), "--out", str(finished), "--conditions", "baseline",
                 *ARGS[:1], "2", *ARGS[2:]]) == 0               # --epochs 2: new fingerprint
    assert (finished / "runs" / "baseline_seed0.json").read_bytes() != before["baseline_seed0.json"]
    assert load_results(finished)["budget"]["steps"] == 6


def test_held_out_originals_never_lend_their_edits(finished, tiny, tmp_path):
    lab, _ = tiny
    # A duplicate of a held-out image, copied into the training folder under another name.
    data = tmp_path / "data"
    for p in lab.rglob("*.png"):
        (data / p.parent.name).mkdir(parents=True, exist_ok=True)
        (data / p.parent.name / p.name).write_bytes(p.read_bytes())
    df = scan_images(data)
    _, test = split_originals(df, 0.2, 0)
    dup = test.iloc[0]
    (data / dup["label"] / "zz_copy.png").write_bytes(Path(dup["path"]).read_bytes())
    prepared = prepare_data(data, size=16, test_fraction=0.2, split_seed=0)
    held = set(prepared.test["hash"])
    attach_edits(prepared, finished / "generation" / "seed0")
    train_hashes = prepared.train["hash"].to_numpy()
    used = {train_hashes[i] for i in prepared.edits["orig_index"]}
    assert used and not used & held


def test_split_is_stratified_seeded_and_by_original(tiny):
    df = scan_images(tiny[0])
    a_train, a_test = split_originals(df, 0.4, 7)
    b_train, b_test = split_originals(df, 0.4, 7)
    assert a_test["rel"].tolist() == b_test["rel"].tolist()
    assert a_test["label"].value_counts().to_dict() == {"blue": 2, "green": 2, "red": 2}
    assert not set(a_train["rel"]) & set(a_test["rel"])
    assert split_originals(df, 0.4, 8)[1]["rel"].tolist() != a_test["rel"].tolist()


def test_cancel_keeps_finished_runs_and_resume_completes(tiny, tmp_path):
    from genmix_core.train import CompareConfig
    from genmix_core.jobs import JobReporter

    lab, _ = tiny
    out = tmp_path / "out"
    cfg = CompareConfig(data=str(lab), out=str(out), conditions=["baseline", "mixup"], seeds=[0], epochs=1,
                        batch_size=4, backbone="small_cnn", size=16, eps=["1/255"], pgd_steps=1)
    rep = JobReporter(out, kind="train")
    checks = {"n": 0}

    def cancel_after_first_run():
        checks["n"] += 1
        return checks["n"] > 3                                     # 3 steps of run 1, then stop

    rep.cancel_requested = cancel_after_first_run
    with pytest.raises(Cancelled):
        run_compare(cfg, rep)
    res = load_results(out)
    assert res["status"] == "cancelled" and set(res["conditions"]) == {"baseline"}
    done = run_compare(cfg)
    assert done["status"] == "done" and set(done["conditions"]) == {"baseline", "mixup"}
    assert done["runs"][0] == res["runs"][0]                       # the finished run was kept, not redone
    from genmix_core.jobs import read_job

    assert read_job(out).status == "done" and read_job(out).message_key == "train.job.done"


@pytest.mark.parametrize("argv,needle", [
    (["--conditions", "baseline,fancy"], "Unknown condition 'fancy'"),
    (["--eps", "9"], "pixel units"),
    (["--test", "/nonexistent/line"], "does not exist"),
])
def test_cli_user_errors_exit_2_with_the_fix(tiny, tmp_path, capsys, argv, needle):
    rc = main(["--data", str(tiny[0]), "--out", str(tmp_path / "o"), "--backbone", "small_cnn", *argv])
    assert rc == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o").exists()            # refused before any folder was made


def test_lambda_is_drawn_from_a_recorded_range_unless_fixed(tiny, tmp_path, capsys):
    from genmix_core.train import CompareConfig
    from genmix_core.train.cli import config_from_args

    base = ["--data", str(tiny[0]), "--out", str(tmp_path / "o")]
    assert config_from_args(base).validated().lam_range == [0.1, 0.3]     # recorded, so a rerun can check it
    assert config_from_args([*base, "--lam-range", "0,0.1"]).validated().lam_range == [0.0, 0.1]
    fixed = config_from_args([*base, "--lam", "0.05"]).validated()
    assert fixed.lam == 0.05 and fixed.lam_range is None
    with pytest.raises(UserError) as exc:
        CompareConfig(data=str(tiny[0]), out=str(tmp_path / "o"), lam=0.1, lam_range=[0, 0.2]).validated()
    assert exc.value.key == "err.train.lam_and_range"
    with pytest.raises(UserError) as exc:
        config_from_args([*base, "--lam-range", "0.3,0.1"]).validated()
    assert exc.value.key == "err.mix.bad_lam_range"
    assert main([*base, "--lam-range", "0.1"]) == 2 and "two numbers" in capsys.readouterr().err


def test_report_says_which_editor_made_the_edits_and_how_they_were_mixed(finished):
    from genmix_core.report import export_html
    from genmix_core.report.texts import genmix_text

    res = load_results(finished)
    assert res["generation"]["editor"] == "offline"
    en, ja = genmix_text(res, "en"), genmix_text(res, "ja")
    assert "Style filter (offline, no AI model)" in en and "AI edit" not in en
    assert "0.1–0.3" in en and "drawn anew on every pass" in en
    assert "スタイルフィルタ" in ja and "0.1〜0.3" in ja
    assert en in export_html(res, "en")
    assert "5 smooth masks" in en and "genmix;" not in en and "マスク：genmix" not in ja     # no raw mask-set id
    pix2pix = {**res, "generation": {**res["generation"], "editor": "instruct-pix2pix", "model": "my/p2p"},
               "config": {**res["config"], "lam": 0.05, "lam_range": None, "redraw": False}}
    text = genmix_text(pix2pix, "en")
    assert "InstructPix2Pix" in text and "my/p2p" in text and "fixed at 0.05" in text and "stored" in text
    # Results from before λ was re-drawn have no lam_range: they used the fixed 0.2 of the time.
    old = {**res, "config": {k: v for k, v in res["config"].items() if k != "lam_range"}}
    assert "fixed at 0.2" in genmix_text(old, "en")
    baseline_only = {**res, "config": {**res["config"], "conditions": ["baseline", "mixup"]}}
    assert genmix_text(baseline_only, "en") == ""


def test_html_report_is_self_contained_in_both_languages(finished):
    from genmix_core.report import export_html
    from genmix_core.report.charts import all_figures

    res = load_results(finished)
    figs = all_figures(res, "en")
    assert len(figs) == 4 + 1 + 5                       # accuracy, domains, robustness, 2x per-class, 5 confusions
    for lang, word in (("en", "matched budget"), ("ja", "学習量をそろえています")):
        page = export_html(res, lang)
        assert word in page and page.count("<script") >= len(all_figures(res, lang, confusion=False))
        assert "src=\"http" not in page and "src='http" not in page
        assert page.count("plotly.js v") == 1 or page.count("Plotly") > 0


def test_cli_args_round_trip(finished):
    from genmix_core.train import load_config
    from genmix_core.jobconfig import to_argv as cli_args
    from genmix_core.train.cli import config_from_args

    cfg = load_config(finished)
    assert cfg.conditions == ["baseline", "genmix", "mixup", "cutmix", "edits"] and cfg.size == 16
    again = config_from_args(cli_args(cfg))
    assert again.validated() == cfg.validated()


def test_generation_never_edits_held_out_originals(finished):
    from genmix_core.generate import manifest

    res = load_results(finished)
    for seed in (0, 1):                                             # each seed edits its own training originals
        rows = manifest.load_manifest(finished / "generation" / f"seed{seed}")
        assert len(rows) == res["split"]["n_train"] * 2             # two prompts per training original only
        assert not set(rows["image"]) & set(res["split"]["per_seed"][str(seed)]["test_images"])


@pytest.mark.parametrize("n, en, ja", [
    (1, ["1 optimizer step of 1 image (1 sample seen)", "1 epoch over the 1 original training image,"],
     ["1 枚ずつ 1 ステップ", "元の学習画像 1 枚の 1 エポック分"]),
    (3, ["3 optimizer steps of 3 images (9 samples seen)", "3 epochs over the 3 original training images,"],
     ["3 枚ずつ 3 ステップ", "元の学習画像 3 枚の 3 エポック分"])])
def test_budget_text_reads_for_one_and_many(n, en, ja):
    from genmix_core.report.texts import budget_text

    res = {"budget": {"steps": n, "batch_size": n, "samples": n * n, "epochs": n, "n_train_originals": n}}
    text = budget_text(res, "en")
    assert all(part in text for part in en) and "(s)" not in text
    assert all(part in budget_text(res, "ja") for part in ja)
