"""Metrics on constructed cases, and FGSM/PGD on a small trained model."""

import numpy as np
import pytest
import torch

from genmix_core.errors import UserError
from genmix_core.train.evaluate import (DEFAULT_EPS, DEFAULT_PGD_STEPS, DEFAULT_RESTARTS, attack_accuracy,
                                        classification_metrics, evaluate_model, fgsm, parse_eps, pgd, predict,
                                        zero_gradients)

CLASSES = ["ok", "scratch", "dent"]


def test_perfect_classifier():
    y = np.array([0, 1, 2, 2, 1, 0, 0])
    m = classification_metrics(y, y, CLASSES)
    assert m["accuracy"] == 1.0 and m["n"] == 7
    assert m["per_class"] == {"ok": 1.0, "scratch": 1.0, "dent": 1.0}
    assert m["confusion"] == [[3, 0, 0], [0, 2, 0], [0, 0, 2]]


def test_constant_classifier():
    y = np.array([0, 1, 2, 2, 1, 0, 0, 0])
    m = classification_metrics(y, np.zeros_like(y), CLASSES)
    assert m["accuracy"] == pytest.approx(4 / 8)
    assert m["per_class"] == {"ok": 1.0, "scratch": 0.0, "dent": 0.0}
    assert m["confusion"] == [[4, 0, 0], [2, 0, 0], [2, 0, 0]]


def test_confusion_rows_are_true_classes_and_missing_class_is_none():
    m = classification_metrics([0, 0, 1], [1, 0, 1], CLASSES)
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert m["per_class"]["ok"] == 0.5 and m["per_class"]["dent"] is None


def test_parse_eps():
    assert parse_eps("1/255, 0.5/255,0.01") == [("1/255", 1 / 255), ("0.5/255", 0.5 / 255), ("0.01", 0.01)]
    assert parse_eps(["0"]) == [("0", 0.0)]
    for bad in ("abc", "2", "-1/255", "1/0", "nan"):
        with pytest.raises(UserError, match="pixel units") as info:
            parse_eps(bad)
        assert info.value.key == "err.train.bad_eps"


class _Linear(torch.nn.Module):
    """A linear classifier on [0, 1] images (an easy target whose gradients attacks can follow)."""

    def __init__(self, d, c):
        super().__init__()
        self.fc = torch.nn.Linear(d, c)

    def forward(self, x):
        return self.fc(torch.flatten(x * 2 - 1, 1))


@pytest.fixture(scope="module")
def trained():
    """Two classes told apart by a faint per-pixel pattern: accurate when clean, fragile under attack."""
    gen = torch.Generator().manual_seed(0)
    pattern = torch.randn(3, 8, 8, generator=gen).sign() * 0.04
    y = torch.arange(200) % 2
    x = (0.5 + torch.randn(200, 3, 8, 8, generator=gen) * 0.03 + (y * 2 - 1).view(-1, 1, 1, 1) * pattern)
    x = x.clamp(0, 1)
    torch.manual_seed(0)
    model = _Linear(3 * 64, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[:150]), y[:150]).backward()
        opt.step()
    return model.eval(), x[150:], y[150:]


def test_attacks_lower_the_accuracy_of_a_trained_model(trained):
    model, x, y = trained
    clean = float((predict(model, x) == y.numpy()).mean())
    assert clean > 0.95
    f = [attack_accuracy(model, x, y, e, "fgsm") for e in (0.0, 0.01, 0.05)]
    p = [attack_accuracy(model, x, y, e, "pgd", pgd_steps=10) for e in (0.0, 0.01, 0.05)]
    assert f[0] == clean and p[0] == clean
    assert f[2] < clean - 0.5 and p[2] < clean - 0.5
    assert f[1] >= f[2] and p[1] >= p[2]                      # stronger attack, lower accuracy
    assert p[1] <= f[1] + 0.05                                # PGD at least about as strong as FGSM
    assert attack_accuracy(model, x, y, 0.01, "pgd", pgd_steps=10, restarts=3) <= p[1]   # restarts only add


def test_adversarial_images_stay_in_the_eps_ball_and_pixel_range(trained):
    model, x, y = trained
    for adv in (fgsm(model, x, y, 0.05), pgd(model, x, y, 0.05, gen=torch.Generator().manual_seed(1))):
        assert adv.shape == x.shape
        assert (adv - x).abs().max() <= 0.05 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_is_seeded(trained):
    model, x, y = trained
    a = pgd(model, x, y, 0.03, steps=3, gen=torch.Generator().manual_seed(5))
    b = pgd(model, x, y, 0.03, steps=3, gen=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_evaluate_model_reports_every_eps_on_clean_correct_images(trained):
    model, x, y = trained
    out = evaluate_model(model, x, y, ["a", "b"], eps=parse_eps("1/255,8/255"), pgd_steps=3)
    assert set(out) >= {"accuracy", "per_class", "confusion", "fgsm_accuracy", "pgd_accuracy", "fgsm_kept",
                        "pgd_kept", "n_clean_correct", "gradients"}
    assert list(out["pgd_accuracy"]) == ["1/255", "8/255"]
    assert np.sum(out["confusion"]) == len(y)
    n_ok = out["n_clean_correct"]
    assert n_ok == round(out["accuracy"] * len(y))
    for e in ("1/255", "8/255"):        # the two views of one count: over all images, over clean-correct ones
        assert out["pgd_accuracy"][e] * len(y) == pytest.approx(out["pgd_kept"][e] * n_ok)


def test_defaults_are_attacks_worth_the_name():
    assert min(v for _, v in parse_eps(list(DEFAULT_EPS))) >= 1 / 255     # nothing below 8-bit quantisation
    assert DEFAULT_PGD_STEPS >= 50 and DEFAULT_RESTARTS >= 2


@pytest.fixture(scope="module")
def small_cnn():
    """The small CNN of the compare job, trained to separate two noisy colour classes: a nonlinear model
    (on a linear one FGSM is already the optimal L∞ attack, so PGD could not do better)."""
    from genmix_core.train.models import build_model

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(160) % 2
    base = torch.tensor([[0.55, 0.45, 0.5], [0.45, 0.55, 0.5]])[y].view(-1, 3, 1, 1)
    x = (base + torch.randn(160, 3, 16, 16, generator=gen) * 0.08).clamp(0, 1)
    torch.manual_seed(0)
    model = build_model("small_cnn", 2, size=16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(120):
        sl = slice((step * 32) % 128, (step * 32) % 128 + 32)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[sl]), y[sl]).backward()
        opt.step()
    return model.eval(), x[128:], y[128:]


def test_pgd_with_restarts_beats_fgsm_on_a_small_model_and_no_gradient_is_masked(small_cnn):
    """No masking: the iterative attack finds more adversarial images than one FGSM step at every ε, and the
    input gradients the attacks follow are not zero."""
    model, x, y = small_cnn
    eps = parse_eps("2/255,4/255,8/255")
    out = evaluate_model(model, x, y, ["a", "b"], eps=eps, pgd_steps=DEFAULT_PGD_STEPS, restarts=DEFAULT_RESTARTS)
    assert out["accuracy"] > 0.9
    for label, _ in eps:
        assert out["pgd_kept"][label] <= out["fgsm_kept"][label], label
    assert sum(out["fgsm_kept"][e] - out["pgd_kept"][e] for e, _ in eps) > 0.1     # strictly stronger somewhere
    assert out["pgd_kept"]["8/255"] < out["pgd_kept"]["2/255"]
    assert out["gradients"]["zero_images"] == 0 and out["gradients"]["zero_share"] < 0.01


def test_a_saturated_model_shows_up_in_the_zero_gradient_check(trained):
    """A model whose logits are scaled by 1e4 has a saturated softmax: float32 loss gradients become exactly 0,
    the masking the check is there to reveal."""
    model, x, y = trained

    class Saturated(torch.nn.Module):
        def forward(self, z):
            return model(z) * 1e4

    check = zero_gradients(Saturated(), x, y)
    assert check["zero_images"] > 0.5 and zero_gradients(model, x, y)["zero_images"] == 0


def test_fixed_shape_batches_give_the_same_answers_with_one_batch_shape(small_cnn):
    """On a GPU every batch is padded to one shape (a new shape costs cuDNN a cold start per convolution, and
    the attacks shrink their batches as images fall). Forced here on the CPU: the model sees only full batches,
    and predictions, attack results and the gradient check are those of the unpadded evaluation."""
    model, x, y = small_cnn
    eps = parse_eps("2/255,8/255")
    sizes = []
    hook = model.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    try:
        plain = evaluate_model(model, x, y, ["a", "b"], eps=eps, pgd_steps=10, batch_size=24, fixed_shape=False)
        shapes_plain, sizes[:] = set(sizes), []
        fixed = evaluate_model(model, x, y, ["a", "b"], eps=eps, pgd_steps=10, batch_size=24, fixed_shape=True)
    finally:
        hook.remove()
    assert len(shapes_plain) > 3 and set(sizes) == {24}                 # 32 images: batches of 24 and 8, shrinking
    assert fixed["predictions"] == plain["predictions"]
    for key in ("fgsm_kept", "pgd_kept", "fgsm_accuracy", "pgd_accuracy"):
        assert fixed[key] == plain[key], key
    assert fixed["gradients"]["zero_share"] == pytest.approx(plain["gradients"]["zero_share"])
    assert list(predict(model, x[:5], batch_size=24, fixed_shape=True)) == list(predict(model, x[:5]))


def test_fixed_shape_batches_reach_the_model_in_one_memory_layout(small_cnn):
    """cuDNN plans are per layout as well as per shape: full and padded batches of a channels-last tensor (what
    data.to_tensor gives, the CPU's faster layout) reach the model contiguous, with the same answers."""
    from genmix_core.train.data import to_tensor

    model, x, y = small_cnn
    layouts = []
    hook = model.register_forward_pre_hook(lambda m, args: layouts.append(args[0].is_contiguous()))
    images = np.ascontiguousarray(np.rint(x.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8))   # as loaded
    nhwc = to_tensor(images)
    assert nhwc.shape == x.shape and not nhwc.is_contiguous()
    try:
        answers = predict(model, nhwc, batch_size=12, fixed_shape=True)   # 32 images: 12, 12, 8 padded to 12
    finally:
        hook.remove()
    assert layouts == [True] * 3
    assert list(answers) == list(predict(model, nhwc.contiguous(), batch_size=12, fixed_shape=False))
