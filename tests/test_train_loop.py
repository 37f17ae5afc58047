"""The training loop: matched budget, exact reproducibility, GenMix re-draws per pass."""

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from genmix_core.train.models import build_model
from genmix_core.train.loop import Budget, Cancelled, TrainConfig, train_model
from genmix_core.train.pool import PoolItem, TrainPool

SIZE = 16


def _pool(n_items, *, n_classes=3, genmix=False, seed=0):
    """A pool of ``n_items`` random images; with ``genmix`` every second item is (original, edit) mixed live."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (2 * n_items, SIZE, SIZE, 3), dtype=np.uint8)
    items = []
    for i in range(n_items):
        if genmix and i % 2:
            items.append(PoolItem(image=i, label=i % n_classes, edit=n_items + i, key=f"img{i}"))
        else:
            items.append(PoolItem(image=i, label=i % n_classes))
    return TrainPool(images, items, mix_seed=seed)


@pytest.fixture
def optimizer_steps():
    """Counts every optimizer.step() in the process (independent of the loop's own counters)."""
    counter = {"n": 0}
    handle = register_optimizer_step_post_hook(
        lambda opt, args, kwargs: counter.__setitem__("n", counter["n"] + 1))
    yield counter
    handle.remove()


class _CountingModel(torch.nn.Module):
    """Wraps a model and counts the samples it sees in training mode."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = 0

    def forward(self, x):
        if self.training:
            self.seen += x.shape[0]
        return self.inner(x)


@pytest.mark.parametrize("condition", ["baseline", "mixup", "cutmix", "genmix"])
def test_matched_budget_whatever_the_pool_size(condition, optimizer_steps):
    budget = Budget.for_epochs(n_originals=10, epochs=2, batch_size=4)   # 2 * ceil(10/4) = 6 steps
    assert (budget.steps, budget.samples) == (6, 24)
    seen = []
    for n_items in (3, 10, 45):
        model = _CountingModel(build_model("small_cnn", 3, size=SIZE))
        before = optimizer_steps["n"]
        stats = train_model(model, _pool(n_items, genmix=condition == "genmix"), TrainConfig(condition=condition),
                            budget, seed=0, num_classes=3)
        seen.append((optimizer_steps["n"] - before, model.seen, stats.steps, stats.samples))
        assert stats.pool_size == n_items
    assert seen == [(6, 24, 6, 24)] * 3


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _train(seed, condition="cutmix", genmix=False):
    torch.manual_seed(seed)
    model = build_model("small_cnn", 3, size=SIZE)
    train_model(model, _pool(12, genmix=genmix), TrainConfig(condition=condition), Budget(5, 4), seed=seed,
                num_classes=3)
    return _state(model)


@pytest.mark.parametrize("condition,genmix", [("cutmix", False), ("mixup", False), ("genmix", True)])
def test_a_seed_reproduces_a_run_exactly(condition, genmix):
    a, b, c = _train(0, condition, genmix), _train(0, condition, genmix), _train(1, condition, genmix)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_genmix_pool_redraws_each_pass_deterministically():
    pool, twin = _pool(20, genmix=True, seed=3), _pool(20, genmix=True, seed=3)
    mixed = [i for i, it in enumerate(pool.items) if it.edit >= 0]
    for i in mixed:
        assert pool.mix_params(i, 2) == twin.mix_params(i, 2)                       # same seed, same mix
        assert np.array_equal(pool.image(i, 2), twin.image(i, 2))
    # Fractal seeds come from the run's recorded pool; a new pass draws a new one (a repeat has chance 1/256
    # per item, none for this seed).
    assert all(pool.mix_params(i, p).fractal_seed in pool.fractal_seeds for i in mixed for p in range(3))
    assert all(pool.mix_params(i, 0).fractal_seed != pool.mix_params(i, 1).fractal_seed for i in mixed)
    assert any(not np.array_equal(pool.image(i, 0), pool.image(i, 1)) for i in mixed)
    # Another run seed draws other mixes; originals never change.
    other = _pool(20, genmix=True, seed=4)
    other.images = pool.images
    assert any(pool.mix_params(i, 0) != other.mix_params(i, 0) for i in mixed)
    plain = next(i for i, it in enumerate(pool.items) if it.edit < 0)
    assert np.array_equal(pool.image(plain, 0), pool.image(plain, 5))
    frozen = TrainPool(pool.images, pool.items, mix_seed=3, redraw=False)
    assert frozen.mix_params(mixed[0], 0) == frozen.mix_params(mixed[0], 7) == pool.mix_params(mixed[0], 0)


def test_genmix_image_is_the_documented_mix():
    """The trained image is the record's mix with the fractal held as uint8 (a pooled, pre-rendered fractal)."""
    from genmix_core.mixing import apply_mix, fractal_blend, hybrid, make_mask, procedural_fractal

    pool = _pool(4, genmix=True)
    item = pool.items[1]
    params = pool.mix_params(1, 0)
    original, edited = pool.images[item.image] / np.float32(255), pool.images[item.edit] / np.float32(255)
    fractal = np.rint(procedural_fractal(params.fractal_seed, SIZE, SIZE) * 255).astype(np.uint8) / np.float32(255)
    mask = make_mask(params.mask, SIZE, SIZE, ramp=params.ramp, radius=params.radius, softness=params.softness)
    expected = fractal_blend(hybrid(original, edited, mask), fractal, params.lam)
    assert np.allclose(pool.image(1, 0), expected, atol=1e-6)
    # The record alone rebuilds it through apply_mix, up to the fractal's quantisation (λ/510 per pixel).
    rebuilt = apply_mix(original, edited, params).final
    assert np.abs(pool.image(1, 0) - rebuilt).max() <= params.lam * 0.5 / 255 + 1e-6


def test_batch_is_the_per_item_images_on_any_device():
    """A batch mixes every GenMix item with its own draw; the same images one by one, labels alongside."""
    pool = _pool(12, genmix=True, seed=5)
    indices, passes = np.array([3, 0, 5, 3, 11, 2]), np.array([0, 0, 1, 2, 4, 4])
    x, labels = pool.batch(indices, passes, device="cpu")
    assert x.shape == (6, 3, SIZE, SIZE) and x.dtype == torch.float32
    assert labels.tolist() == [pool.items[i].label for i in indices]
    for row, (i, p) in enumerate(zip(indices, passes)):
        assert np.array_equal(x[row].permute(1, 2, 0).numpy(), pool.image(int(i), int(p)))
    assert not torch.equal(x[0], x[3])                           # item 3 in passes 0 and 2: two mixes
    plain = x[1].permute(1, 2, 0).numpy()
    assert np.array_equal(plain, pool.images[0] / np.float32(255))


def test_cancel_between_steps():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2

    steps = []
    with pytest.raises(Cancelled):
        train_model(build_model("small_cnn", 3, size=SIZE), _pool(8), TrainConfig(), Budget(10, 4), seed=0,
                    num_classes=3, should_stop=stop, on_step=lambda s, loss: steps.append(s))
    assert steps == [1, 2]


def test_training_learns_an_easy_task():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    images = np.where(labels[:, None, None, None] == 1, 200, 40) + rng.integers(-30, 30, (60, SIZE, SIZE, 3))
    pool = TrainPool(images.clip(0, 255).astype(np.uint8), [PoolItem(i, int(labels[i])) for i in range(60)])
    torch.manual_seed(0)
    model = build_model("small_cnn", 2, size=SIZE)
    stats = train_model(model, pool, TrainConfig(), Budget(30, 16), seed=0, num_classes=2)
    x = torch.from_numpy(pool.images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        acc = (model(x).argmax(1).numpy() == labels).mean()
    assert acc > 0.95 and stats.final_loss < 0.5


def test_redrawn_lambda_follows_the_pool_range_and_stays_reproducible():
    pool = _pool(20, genmix=True, seed=3)
    mixed = [i for i, it in enumerate(pool.items) if it.edit >= 0]
    pool.mix_options = {"lam_range": (0.0, 0.1)}
    lams = [pool.mix_params(i, p).lam for i in mixed for p in range(4)]
    assert all(0.0 <= v <= 0.1 for v in lams) and len(set(lams)) == len(lams)    # a fresh λ per draw
    twin = _pool(20, genmix=True, seed=3)
    twin.mix_options = {"lam_range": (0.0, 0.1)}
    assert [twin.mix_params(i, p).lam for i in mixed for p in range(4)] == lams



def test_a_cpu_trains_on_channels_last_batches_like_its_test_images():
    """On a CPU the training batches reach the model in channels-last (×1.45 per step for EfficientNet-Lite0 on 2
    cores), the layout the test images are loaded in; the time estimate's calibration times that layout too."""
    from genmix_core.train.data import to_tensor
    from genmix_core.train.models import training_layout

    layouts = []
    model = build_model("small_cnn", 3, size=SIZE)
    model.register_forward_pre_hook(lambda m, args: layouts.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    train_model(model, _pool(8), TrainConfig(), Budget(3, 4), seed=0, num_classes=3)
    assert layouts == [True] * 3
    test_images = to_tensor(np.zeros((2, SIZE, SIZE, 3), np.uint8))
    assert test_images.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 3, SIZE, SIZE)
    assert training_layout(x, torch.device("cpu")).is_contiguous(memory_format=torch.channels_last)
    assert training_layout(x, torch.device("meta")) is x                 # other devices: unchanged
