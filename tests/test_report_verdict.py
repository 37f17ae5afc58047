"""The verdict rule on constructed results: clearly better, clearly worse, overlapping, one seed; its words in
both languages; older results.json files (no verdict, no per-photo answers) still open."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from genmix_core.fileio import atomic_write_json
from genmix_core.i18n import t
from genmix_core.report import verdict_sentences
from genmix_core.report.texts import spread_note, summary_rows
from genmix_core.train import compute_verdict, load_results
from genmix_core.train.results import summarize

CLASSES = ["ok", "scratch"]


def run(cond, seed, acc, onsite=None, answers=None):
    """A run record as ``train/compare.py`` writes it (only what the verdict and the summary read)."""
    def evaluation(a, ans=None):
        out = {"accuracy": a, "per_class": {c: a for c in CLASSES}, "confusion": [[3, 1], [1, 3]]}
        if ans is not None:
            out["targets"] = [0] * len(ans)
            out["predictions"] = [0 if ok else 1 for ok in ans]
        return out

    r = {"condition": cond, "seed": seed, "stats": {"steps": 4, "samples": 128, "pool_size": 10, "seconds": 1.0},
         "in_domain": evaluation(acc, answers)}
    if onsite is not None:
        r["cross_domain"] = evaluation(onsite)
    return r


def by_domain(entries):
    return {(e["condition"], e["domain"]): e for e in entries}


def test_clearly_better_is_judged_on_differences_paired_by_seed():
    # Seeds differ a lot from each other, GenMix is ~5 points above the baseline of the same seed every time:
    # unpaired, the two groups overlap; paired by seed, the gain is clear.
    base, gm = [0.50, 0.70, 0.90], [0.55, 0.76, 0.94]
    runs = [run("genmix", s, a) for s, a in zip((2, 0, 1), (gm[2], gm[0], gm[1]))]     # any order
    runs += [run("baseline", s, a) for s, a in enumerate(base)] + [run("genmix", 7, 0.1)]  # seed 7: no pair
    (v,) = compute_verdict(runs, ["baseline", "genmix"])
    assert (v["condition"], v["domain"], v["metric"], v["method"]) == ("genmix", "held_out", "accuracy",
                                                                      "paired_seeds")
    assert v["seeds"] == [0, 1, 2] and v["n"] == 3 and v["call"] == "better"
    d = np.subtract(gm, base)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert v["delta"] == pytest.approx(d.mean())
    assert v["interval"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert stats.ttest_ind(gm, base).pvalue > 0.5            # what an unpaired test would have said
    assert (v["reference_value"], v["value"]) == (pytest.approx(0.7), pytest.approx(np.mean(gm)))


def test_clearly_worse_on_site_reads_as_lowered_in_both_languages():
    runs = [run("baseline", s, 1.0, onsite=o) for s, o in enumerate([0.61, 0.65, 0.58])]
    runs += [run("genmix", s, 0.95, onsite=o) for s, o in enumerate([0.31, 0.35, 0.30])]
    results = {"config": {"conditions": ["baseline", "genmix"]}, "runs": runs, "conditions": {}}
    v = by_domain(compute_verdict(runs, ["baseline", "genmix"]))[("genmix", "onsite")]
    assert v["call"] == "worse" and v["interval"][1] < 0 and v["delta"] == pytest.approx(-0.2933, abs=1e-3)
    en, ja = (verdict_sentences({**results, "verdict": [v]}, lang)[0] for lang in ("en", "ja"))
    assert en.startswith("On the on-site photos, GenMix lowered accuracy from 61.3 % to 32.0 % (−29.3 points; "
                         "larger than the run-to-run spread over 3 training runs")
    assert ja.startswith("現場の写真では、GenMix によって正解率が 61.3% から 32.0% に下がりました（−29.3 ポイント。"
                         "3 回の学習のばらつきより大きな差")


def test_overlapping_runs_give_no_clear_difference():
    # docs/EVIDENCE.md: −8.7 ± 7.7 points over 3 seeds (p ≈ 0.19) is not an established loss.
    base = [0.62, 0.64, 0.57]
    gm = [0.60, 0.47, 0.50]
    runs = [run("baseline", s, a) for s, a in enumerate(base)] + [run("genmix", s, a) for s, a in enumerate(gm)]
    (v,) = compute_verdict(runs, ["baseline", "genmix"])
    assert v["call"] == "no_clear_difference" and v["interval"][0] < 0 < v["interval"][1]
    assert v["delta"] == pytest.approx(-0.0867, abs=1e-3) and 0.15 < v["p_value"] < 0.25
    text = verdict_sentences({"config": {"conditions": ["baseline", "genmix"]}, "verdict": [v]}, "en")[0]
    assert "made no clear difference" in text and "within the run-to-run spread over 3 training runs" in text


def test_one_seed_bootstraps_over_the_test_photos_and_says_the_spread_is_unknown():
    n = 40
    base_ok = [True] * 30 + [False] * 10
    runs = [run("baseline", 0, 0.75, answers=base_ok),
            run("genmix", 0, 0.30, answers=[True] * 12 + [False] * 28),            # clearly worse
            run("mixup", 0, 0.775, answers=base_ok[:-1] + [True])]                 # one photo apart
    entries = by_domain(compute_verdict(runs, ["baseline", "genmix", "mixup"]))
    gm, mx = entries[("genmix", "held_out")], entries[("mixup", "held_out")]
    assert gm["method"] == mx["method"] == "bootstrap_images" and gm["n"] == n
    assert gm["call"] == "worse" and gm["delta"] == pytest.approx(-0.45)
    assert mx["call"] == "no_clear_difference" and mx["interval"][0] <= 0 < mx["interval"][1]
    assert compute_verdict(runs, ["baseline", "genmix", "mixup"])[0] == gm          # seeded: same interval again
    results = {"config": {"conditions": ["baseline", "genmix", "mixup"]}, "runs": runs, "classes": CLASSES,
               "eps": [], "conditions": summarize(runs, ["baseline", "genmix", "mixup"], CLASSES)}
    en = verdict_sentences(results, "en")
    assert "one training run only, so the run-to-run spread is unknown" in en[0] and "40 photos" in en[0]
    assert spread_note(results, "en") == t("report.spread.one", "en")
    assert not any("±" in cell for row in summary_rows(results, "en") for cell in row.values())


def test_a_result_file_without_verdict_opens_and_gets_one(tmp_path):
    runs = [run("baseline", s, a, onsite=o) for s, (a, o) in enumerate([(0.9, 0.6), (0.8, 0.62), (0.85, 0.59)])]
    runs += [run("genmix", s, a, onsite=o) for s, (a, o) in enumerate([(0.88, 0.3), (0.8, 0.33), (0.83, 0.31)])]
    old = {"kind": "train", "config": {"conditions": ["baseline", "genmix"]}, "classes": CLASSES, "runs": runs,
           "conditions": summarize(runs, ["baseline", "genmix"], CLASSES)}
    atomic_write_json(tmp_path / "results.json", old)
    res = load_results(tmp_path)
    calls = {(v["domain"], v["call"]) for v in res["verdict"]}
    assert calls == {("held_out", "no_clear_difference"), ("onsite", "worse")}
    assert res["counts"]["test"] == {"ok": 4, "scratch": 4}         # from the confusion matrix rows


def test_an_old_one_seed_file_without_answers_says_why_there_is_no_verdict(tmp_path):
    runs = [run("baseline", 0, 0.9), run("genmix", 0, 0.5)]
    atomic_write_json(tmp_path / "results.json", {
        "kind": "train", "config": {"conditions": ["baseline", "genmix"]}, "classes": CLASSES, "runs": runs,
        "conditions": summarize(runs, ["baseline", "genmix"], CLASSES)})
    res = load_results(tmp_path)
    assert res["verdict"] == []
    assert verdict_sentences(res, "ja") == [t("report.verdict.no_answers", "ja")]


def test_caveats_and_next_steps_follow_the_verdict_and_the_data():
    from genmix_core.report import caveats, next_steps

    runs = [run("baseline", s, 0.9, onsite=o) for s, o in enumerate([0.61, 0.65, 0.58])]
    runs += [run("genmix", s, 0.9, onsite=o) for s, o in enumerate([0.31, 0.35, 0.30])]
    worse = {"config": {"conditions": ["baseline", "genmix"], "lam_range": [0.1, 0.3]}, "runs": runs,
             "classes": ["ok", "scratch", "dent"], "conditions": summarize(runs, ["baseline", "genmix"], CLASSES),
             "split": {"n_test": 30}, "cross_domain": {"n": 150}, "counts": {"onsite": {"ok": 100, "dent": 50}},
             "generation": {"editor": "offline"}, "status": "done"}
    said = caveats(worse, "en")
    assert t("report.caveat.worse", "en", domains="on-site photos") in said
    assert t("report.caveat.not_helped", "en", domains="held-out photos") in said
    assert t("report.caveat.onsite_classes", "en", n=2, total=3, missing="scratch") in said
    assert t("report.caveat.style_filter", "en") in said and t("report.caveat.runs", "en", n=3) in said
    assert any(s.startswith("Small test sets (30 held-out photos, 150 on-site photos)") for s in said)
    todo = next_steps(worse, "ja")
    # A longer run first (the evidence runs: GenMix's deficit at the base budget was gone at 4x), then λ.
    assert todo[:2] == [t("report.next.longer_budget", "ja", scale=4), t("report.next.lower_lam", "ja")]
    assert t("report.next.onsite_classes", "ja", missing="scratch") in todo
    assert t("report.next.more_seeds", "ja") not in todo and t("report.next.confirm", "ja") not in todo

    runs = [run("baseline", s, 0.8, onsite=0.6) for s in range(3)]
    runs += [run("genmix", s, 0.85 + 0.01 * s, onsite=0.9) for s in range(3)]
    better = {**worse, "runs": runs, "cross_domain": None, "generation": {"editor": "instruct-pix2pix"},
              "split": {"n_test": 500}}
    better["conditions"] = summarize(better["runs"], ["baseline", "genmix"], CLASSES)
    assert {v["call"] for v in compute_verdict(better["runs"], ["baseline", "genmix"])} == {"better"}
    said, todo = caveats(better, "en"), next_steps(better, "en")
    assert t("report.caveat.no_onsite", "en") in said and t("report.caveat.style_filter", "en") not in said
    assert not any(s.startswith("Small test sets") for s in said)
    assert todo[-1] == t("report.next.confirm", "en") and t("report.next.diffusion", "en") not in todo


def test_a_run_with_a_longer_budget_gets_no_longer_budget_advice_and_an_attack_that_fools_all_is_named():
    from genmix_core.report import caveats, next_steps

    runs = [run("baseline", s, 0.9, onsite=o) for s, o in enumerate([0.61, 0.65, 0.58])]
    runs += [run("genmix", s, 0.9, onsite=o) for s, o in enumerate([0.31, 0.35, 0.30])]
    worse = {"config": {"conditions": ["baseline", "genmix"], "lam_range": [0.1, 0.3], "steps_scale": [1, 4]},
             "runs": runs, "classes": CLASSES, "conditions": summarize(runs, ["baseline", "genmix"], CLASSES),
             "split": {"n_test": 30}, "cross_domain": {"n": 150}, "status": "done"}
    todo = next_steps(worse, "en")
    assert t("report.next.longer_budget", "en", scale=4) not in todo       # 4x was trained already
    assert todo[0] == t("report.next.lower_lam", "en")
    assert t("report.next.longer_budget", "en", scale=4) in next_steps(
        {**worse, "config": {**worse["config"], "steps_scale": [2]}}, "en")
    floor = t("report.caveat.attack_floor", "en")
    assert floor not in caveats(worse, "en")                              # no attack was run

    def attacked(genmix_left):
        conds = {c: {**s, "pgd_accuracy": {"1/255": {"mean": 0.0, "std": 0.0, "n": 3},
                                           "8/255": {"mean": genmix_left if c == "genmix" else 0.0,
                                                     "std": 0.0, "n": 3}}}
                 for c, s in worse["conditions"].items()}
        return {**worse, "conditions": conds, "eps": ["1/255", "8/255"]}

    assert floor in caveats(attacked(0.0), "en")
    assert t("report.caveat.attack_floor", "ja") in caveats(attacked(0.0), "ja")
    assert floor not in caveats(attacked(0.2), "en")                      # one method kept some photos
