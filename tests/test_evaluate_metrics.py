"""Metrics on constructed cases, and FGSM/PGD on a small trained model."""

import numpy as np
import pytest
import torch

from genmix_core.errors import UserError
from genmix_core.train.evaluate import (attack_accuracy, classification_metrics, evaluate_model, fgsm, parse_eps, pgd,
                                  predict)

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


def test_evaluate_model_reports_every_eps(trained):
    model, x, y = trained
    out = evaluate_model(model, x, y, ["a", "b"], eps=parse_eps("1/255,8/255"), pgd_steps=3)
    assert set(out) >= {"accuracy", "per_class", "confusion", "fgsm_accuracy", "pgd_accuracy"}
    assert list(out["pgd_accuracy"]) == ["1/255", "8/255"]
    assert np.sum(out["confusion"]) == len(y)
