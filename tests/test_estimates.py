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


def test_a_measurement_far_off_the_mean_replaces_it():
    """A mean that is 10x off (a run on a busy machine, a machine change, an old bug) heals at the next run instead
    of after five."""
    costs.record("train", "k", {"step": 2.0})
    costs.record("train", "k", {"step": 4.0})
    costs.record("train", "k", {"step": 300.0})
    assert costs.measured("train", "k") == {"step": 300.0}
    costs.record("train", "k", {"step": 200.0})
    assert 200.0 < costs.measured("train", "k")["step"] < 300.0          # within the band: averaged again


def test_an_evaluation_without_attacks_leaves_the_gradient_cost_alone():
    """The recipe search evaluates without attacks; its forward passes (plus a fixed overhead) used to rescale the
    gradient cost too, which compounded from job to job: each job started from the inflated mean and inflated it
    again. Gradient costs now move only with evaluations that make gradients."""
    reporter = SimpleNamespace(state=SimpleNamespace(extra={}), update=lambda **kw: None)
    units = UnitCosts(step=1.0, grad=2.0, fwd=0.5)
    costs.record("train", "k", {"step": 1.0, "grad": 2.0, "fwd": 0.5})
    for _ in range(3):                       # three search jobs, each from the costs the last one left
        known = costs.measured("train", "k")
        tr = Tracker(reporter, UnitCosts(known["step"], known["grad"], known["fwd"]), "k", batch=4, size=100,
                     n_test=20, n_cross=0, eps_count=0, pgd_steps=0)
        # The same real time each job: 20 forward passes at 1.5 s/Mpx (3x the first plan: a fixed overhead).
        tr.measured(train_s=0.4, steps=10, eval_s=20 * 1.5 * 0.01, n_test=20, n_cross=0, eps_count=0, pgd_steps=0)
    after = costs.measured("train", "k")
    assert after["grad"] == 2.0                               # before: 2.0 x 3 x ... from job to job
    assert 0.5 < after["fwd"] <= 1.5 + 1e-9                   # the forward cost moves towards what it measured
    # An evaluation with attacks still rescales both (attack-dominated: one factor for the pair).
    tr = Tracker(reporter, units, "g", batch=4, size=100, n_test=5, n_cross=0, eps_count=1, pgd_steps=2)
    grads, fwds = eval_passes(5, 0, 1, 2)
    tr.measured(train_s=0.4, steps=10, eval_s=0.5 * (grads * 2.0 + fwds * 0.5) * 0.01, n_test=5, n_cross=0,
                eps_count=1, pgd_steps=2)
    assert costs.measured("train", "g")["grad"] == pytest.approx(1.0)


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
                   restarts=2, batch_size=4, on_work=on_work)
    # Planned: the clean pass and the gradient check, then per eps one FGSM step and 2 restarts x 3 PGD steps,
    # each attack and restart scored once. Attacks run on the clean-correct images and PGD stops at an image's
    # first fooling step, so what they skip is reported at the end: the bar still ends where the plan said.
    assert tuple(seen) == eval_passes(10, 0, 2, 3, restarts=2) == (10 * (1 + 2 * (1 + 3 * 2)), 10 * (1 + 2 * 3))


def test_the_plan_counts_runs_generation_and_evaluation(tmp_path):
    units = UnitCosts(step=1.0, grad=2.0, fwd=0.5)
    cfg = CompareConfig(data=str(tmp_path), out=str(tmp_path / "o"), conditions=["baseline", "genmix", "mixup"],
                        seeds=[0, 1], epochs=3, batch_size=32, size=100, test=str(tmp_path), few_shot=[])
    est = estimate_compare(cfg, [30] * 5, 150, units, per_image_s=0.1, n_prompts=8)
    # Every seed makes its own generation run (issue #15): 120 training photos x 8 prompts, twice.
    assert est.runs == 6 and est.images == 2 * 120 * 8 and est.generation_s == pytest.approx(2 * 96)
    train, ev = run_seconds(units, steps=12, batch=32, size=100, n_test=30, n_cross=150, eps_count=3,
                            pgd_steps=cfg.pgd_steps, restarts=cfg.pgd_restarts)
    assert est.train_s == pytest.approx(6 * train) and est.eval_s == pytest.approx(6 * ev)
    # A budget sweep and the authors' epochs protocol add their runs: x1 and x4 for three conditions, and
    # genmix over its own pool (120 originals + 960 GenMix images: 34 steps per epoch) at both scales.
    sweep = estimate_compare(CompareConfig(**{**cfg.__dict__, "steps_scale": [1, 4],
                                              "protocols": ["steps", "epochs"]}).validated(), [30] * 5, 150,
                             units, per_image_s=0.1, n_prompts=8)
    steps = 2 * (3 * 12 + 3 * 48 + 3 * 34 + 12 * 34)
    assert sweep.runs == 2 * 8 and sweep.train_s == pytest.approx(steps * train / 12)
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
