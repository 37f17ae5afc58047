"""Issue 16.4: time you can plan. Costs measured on this machine, a plan before Start, progress that moves during
evaluation, and a remaining time that follows the job's real pace."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from genmix_core import costs
from genmix_core.train import CompareConfig
from genmix_core.train.estimate import Tracker, UnitCosts, estimate_compare, eval_passes, run_seconds
from genmix_core.train.evaluate import evaluate_model
from genmix_core.train.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_costs_are_kept_as_a_running_mean_per_key():
    assert costs.measured("train", "k") is None
    costs.record("train", "k", {"step": 2.0})
    costs.record("train", "k", {"step": 4.0, "grad": float("nan")})
    assert costs.measured("train", "k") == {"step": 3.0}


def _job(done, total, started, **extra):
    return SimpleNamespace(done=done, total=total, started=started, extra=extra)


def test_remaining_time_starts_from_the_plan_then_follows_the_real_pace():
    assert costs.remaining_seconds(_job(0, 100, 1000.0), now=1000.0) is None           # nothing known yet
    assert costs.remaining_seconds(_job(0, 100, 1000.0, estimate_s=600), now=1060.0) == 540   # plan - elapsed
    # A quarter done in 300 s: 900 s left, whatever the plan said (this PC is slower than planned).
    assert costs.remaining_seconds(_job(25, 100, 1000.0, estimate_s=100), now=1300.0) == pytest.approx(900)
    # A resumed run: only the new work sets the pace.
    assert costs.remaining_seconds(_job(60, 100, 1000.0, base_done=50), now=1100.0) == pytest.approx(400)


def test_evaluation_reports_every_pass_it_makes():
    """The bar moves during the attacks: every gradient and forward pass is reported, as planned."""
    model = build_model("small_cnn", 3, size=16)
    x, y = torch.rand(10, 3, 16, 16), torch.randint(0, 3, (10,))
    seen = [0, 0]

    def on_work(grads, fwds):
        seen[0] += grads
        seen[1] += fwds

    evaluate_model(model, x, y, ["a", "b", "c"], eps=[("1/255", 1 / 255), ("2/255", 2 / 255)], pgd_steps=3,
                   batch_size=4, on_work=on_work)
    assert tuple(seen) == eval_passes(10, 0, 2, 3) == (10 * 2 * 4, 10 * 5)


def test_the_plan_counts_runs_generation_and_evaluation(tmp_path):
    units = UnitCosts(step=1.0, grad=2.0, fwd=0.5)
    cfg = CompareConfig(data=str(tmp_path), out=str(tmp_path / "o"), conditions=["baseline", "genmix", "mixup"],
                        seeds=[0, 1], epochs=3, batch_size=32, size=100, test=str(tmp_path), few_shot=[])
    est = estimate_compare(cfg, [30] * 5, 150, units, per_image_s=0.1, n_prompts=8)
    assert est.runs == 6 and est.images == 120 * 8 and est.generation_s == pytest.approx(96)
    train, ev = run_seconds(units, steps=12, batch=32, size=100, n_test=30, n_cross=150, eps_count=3,
                            pgd_steps=10)
    assert est.train_s == pytest.approx(6 * train) and est.eval_s == pytest.approx(6 * ev)
    assert ev > train      # evaluation, not training, is what takes the time here


def test_the_tracker_ends_at_its_total():
    reports = []
    reporter = SimpleNamespace(state=SimpleNamespace(extra={}),
                               update=lambda **kw: reports.append(kw.get("done")))
    tr = Tracker(reporter, UnitCosts(1e-3, 2e-3, 1e-3), "k", batch=4, size=10, n_test=5, n_cross=3, eps_count=1,
                 pgd_steps=2)
    tr.plan(2.0, [tr.run_seconds(10)])
    tr.generated(0.5)
    tr.generation_finished()
    base = tr.done
    for step in range(1, 11):
        tr.trained(base, step)
    tr.done = base + tr.train_seconds(10)
    grads, fwds = eval_passes(5, 3, 1, 2)
    tr.evaluated(grads, fwds)
    assert tr.done == pytest.approx(tr.total)
    moving = [r for r in reports if r is not None]
    assert moving == sorted(moving)


def test_generation_is_timed_on_a_photo_then_measured_by_the_run(tmp_path):
    from genmix_core.generate import GenerateConfig, run_generation
    from genmix_core.generate.estimate import estimate_generation
    from test_generate_fakes import make_data

    data = make_data(tmp_path / "data", per_class=3)
    photo = next(data.glob("*/*.png"))
    first = estimate_generation(12, "offline", photo=photo)
    assert first.source == "timed" and first.items == 12 and first.seconds > 0
    run_generation(GenerateConfig(data=str(data), out=str(tmp_path / "run"), prompts=["snowy", "sunset"]))
    again = estimate_generation(12, "offline", photo=photo)
    assert again.source == "measured" and again.per_item > 0
    assert estimate_generation(5, "instruct-pix2pix").source == "model"      # never run here: the FLOP model
