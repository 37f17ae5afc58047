"""The first call of every convolution shape a comparison will use, made while its generation step runs.

On a GPU the first call of each convolution shape pays a cold start (cuDNN choosing and building its plan,
CUDA loading the kernels), and the comparison's first run paid all of them: its training took 1.4-1.7 s against
0.4-0.5 s for the next run, its evaluation 3.0-3.5 s against 0.2-0.3 s (``bench/bench_train.py`` on an H200,
session 10). Those caches belong to a thread (see :class:`RunThread`), not to a model, so a throwaway model of
the same architecture, run on the thread the runs will use, fills them: one training step's passes at the training batch shape (bf16 autocast, as :func:`train_model`),
then :func:`evaluate_model` on a few random pictures, labelled with the model's own answers so that the
attacks run, with one ε, one FGSM and one PGD step (every evaluation batch is padded to one shape on a GPU, so
that covers the clean pass, the gradient check and the attacks). The comparison runs it on a thread beside its
generation step, which leaves the GPU idle, and waits for it before its first run; nothing of it reaches a
result (its model is thrown away, its pictures come from their own generator, and every run seeds the global
generators itself before it draws). The runs then train and evaluate on that same thread (:class:`RunThread`):
PyTorch keeps cuDNN's plans per thread.

**Off by default until it is measured on a GPU** (``GENMIX_KERNEL_WARMUP=1`` turns it on, also on a CPU for the
tests; ``bash bench/gpu_open_checks.sh OUT 300 warmup`` compares): session 10 measured the first version, a
warm-up on a helper thread with the runs on the main thread, and it gained nothing (baseline evaluation 5.6 and
4.3 s with it, 3.3 and 4.1 s without, bench_train on an H200); the reason found afterwards, cuDNN's per-thread
plan caches, is why the runs now go to the warmed thread, and no GPU time was left to measure that.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future

import torch
import torch.nn.functional as F

from genmix_core.train.evaluate import evaluate_model, predict
from genmix_core.train.loop import soft_cross_entropy
from genmix_core.train.models import build_model

log = logging.getLogger(__name__)


def warm_up_kernels(backbone: str, num_classes: int, size: int, finetune: str, device: torch.device,
                    train_batch: int, eval_batch: int = 64) -> float:
    """Run the passes described above on a new model; returns the seconds it took."""
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(0)
    model = build_model(backbone, num_classes, size=size, finetune=finetune, pretrained=False).to(device)
    model.train()
    x = torch.rand(train_batch, 3, size, size, generator=gen).to(device)
    y = F.one_hot(torch.arange(train_batch) % num_classes, num_classes).float().to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(x)
    soft_cross_entropy(logits, y).backward()
    model.eval()
    pictures = torch.rand(min(eval_batch, 8), 3, size, size, generator=gen)
    answers = torch.from_numpy(predict(model, pictures, batch_size=eval_batch, device=device))
    evaluate_model(model, pictures, answers, [str(i) for i in range(num_classes)], eps=[("1/255", 1 / 255)],
                   pgd_steps=1, restarts=1, batch_size=eval_batch, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def warm_up_wanted() -> bool:
    """Only with ``GENMIX_KERNEL_WARMUP=1`` (see the module notes: not yet measured on a GPU in this form)."""
    return os.environ.get("GENMIX_KERNEL_WARMUP", "") == "1"


class RunThread:
    """The one thread the comparison's runs train and evaluate on, warmed up first (:func:`warm_up_kernels`)
    while the caller goes on with the generation step.

    PyTorch keeps cuDNN's execution plans per thread (``thread_local`` caches in its cuDNN convolution code), so
    a warm-up on a helper thread leaves the runs on the main thread as cold as before: measured on an H200,
    baseline evaluation 5.6 and 4.3 s with such a warm-up against 3.3 and 4.1 s without. Hence the runs go to
    the thread that warmed up. A daemon thread: a stopped job does not wait for it. A failed warm-up is only
    logged (the runs then pay the cold starts themselves).
    """

    def __init__(self, **warm_up) -> None:
        self.seconds: float | None = None
        self.error: str | None = None
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="runs", daemon=True)
        self._thread.start()
        self._warmed = self._submit(self._warm_up, warm_up)

    def _warm_up(self, kwargs: dict) -> None:
        try:
            self.seconds = warm_up_kernels(**kwargs)
        except Exception as exc:  # noqa: BLE001 - optional work: the runs are correct without it
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("kernel warm-up failed (the first run pays the cold starts): %s", self.error)

    def _serve(self) -> None:
        while True:
            fn, args, done = self._jobs.get()
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
                done.set_exception(exc)

    def _submit(self, fn, *args) -> Future:
        done: Future = Future()
        self._jobs.put((fn, args, done))
        return done

    def wait(self) -> float:
        """Wait until the warm-up has finished; returns the seconds waited."""
        start = time.perf_counter()
        self._warmed.result()
        return time.perf_counter() - start

    def call(self, fn, *args):
        """``fn(*args)`` on this thread; its result, or its exception raised here."""
        return self._submit(fn, *args).result()
