"""GenMix mixing on torch tensors, batched, on any device: the training-time twin of the numpy kernels.

The numpy kernels (:func:`~genmix_core.mixing.masks.make_mask`, :func:`~genmix_core.mixing.blend.hybrid`,
:func:`~genmix_core.mixing.blend.fractal_blend`, :func:`~genmix_core.mixing.fractals.procedural_fractal`) stay
the source of truth; these functions compute the same formulas (GenMix, arXiv 2412.02366:
``A = (1 − λ)·(M·I + (1 − M)·E) + λ·F``) for a whole batch at once, so a GPU does not wait for one image at a
time of single-threaded numpy.

Layout: images ``(N, 3, H, W)`` float32 in [0, 1] (torch's channel-first order, unlike the numpy
``(H, W, 3)``); masks ``(N, H, W)`` float32, 1 = keep the original.

Fractals: rendering one procedural fractal costs milliseconds of numpy, so training draws its fractal seeds
from a finite per-run pool (:func:`fractal_pool_seeds`) and renders each pooled fractal once, on first use,
into a :class:`FractalBank` (``uint8``, so it fits on the device at any training size). A pooled seed is an
ordinary fractal seed: ``apply_mix`` with the same record rebuilds the same image, up to the uint8
quantisation of the fractal (at most λ/510 per pixel). Like every procedural fractal, a pooled one is rendered
at 512 px and shrunk to the training size (:data:`~genmix_core.mixing.fractals.FRACTAL_RENDER`), about 0.1 s
of CPU each, on up to 8 threads; the renders of the last few pools are kept in the process, so the conditions
and budgets of one seed share them. :func:`prefetch_fractal_bank` renders a pool in processes of its own ahead of
its first use (Train & Compare does so while a GPU trains the runs that need no fractals).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from genmix_core.errors import UserError
from genmix_core.mixing.fractals import quantize
from genmix_core.mixing.masks import MASK_KINDS, check_fraction, check_kind, check_size
from genmix_core.seeds import item_seed

FRACTAL_POOL_SIZE = 256
"""Fractal seeds per training run: a few hundred distinct fractals, each rendered once."""
_SHARED_BANKS: OrderedDict = OrderedDict()
_SHARED_BANK_COUNT = 4  # pools kept per process (≈ 10 MB each at 112 px)
_RENDER_THREADS = min(8, os.cpu_count() or 1)
_PREFETCH_THREADS = min(4, _RENDER_THREADS)  # fewer beside a thread that drives a GPU
#: Processes that render a pool ahead of its use (:func:`prefetch_fractal_bank`): half the cores, at most 8; none
#: on a machine of fewer than 4 cores, where they would only take cores from the runs beside them.
_PREFETCH_PROCESSES = min(8, (os.cpu_count() or 1) // 2) if (os.cpu_count() or 1) >= 4 else 0
_PREFETCHING: dict[tuple, threading.Thread] = {}  # procedural pool key -> the thread rendering it ahead of use


def _work_dtype(device: torch.device) -> torch.dtype:
    # float64 as numpy uses, so the masks agree to the last float32 bit; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _split(n: int, ramp: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Torch twin of ``masks._linear_split``: ``(n,)``, 1 on the first half, linear ramp ``ramp·n`` wide."""
    u = (torch.arange(n, dtype=dtype, device=device) + 0.5) / n
    if ramp == 0.0:
        return (u < 0.5).to(dtype)
    # A ramp far below one pixel gives ±inf, which the clamp turns into 1 / 0, as in numpy.
    return (0.5 + (0.5 - u) / ramp).clamp(0.0, 1.0)


def _radial(height: int, width: int, radius: float, softness: float, dtype, device) -> torch.Tensor:
    """Torch twin of ``masks._radial``: ``(H, W)``, 0.5 at ``radius``, ring ``softness`` wide."""
    side = float(min(height, width))
    y = ((torch.arange(height, dtype=dtype, device=device) + 0.5) - height / 2.0) / side
    x = ((torch.arange(width, dtype=dtype, device=device) + 0.5) - width / 2.0) / side
    dist = torch.sqrt((y * y)[:, None] + (x * x)[None, :])
    if softness == 0.0:
        return (dist < radius).to(dtype)
    return (0.5 + (radius - dist) / softness).clamp(0.0, 1.0)


def mask_set_torch(height: int, width: int, *, ramp: float, radius: float, softness: float,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """All five masks of :data:`MASK_KINDS` for one parameter set, ``(5, H, W)`` float32, in that order.

    Each slice equals ``make_mask(kind, height, width, ramp=..., radius=..., softness=...)`` (float32).
    """
    height, width = check_size(height, width)
    ramp, radius = check_fraction("ramp", ramp), check_fraction("radius", radius)
    softness = check_fraction("softness", softness)
    dev = torch.device(device or "cpu")
    dtype = _work_dtype(dev)
    row = _split(width, ramp, dtype, dev).float()
    col = _split(height, ramp, dtype, dev).float()
    by_kind = {
        "left_right": row[None, :].expand(height, width),
        "right_left": row.flip(0)[None, :].expand(height, width),
        "top_bottom": col[:, None].expand(height, width),
        "bottom_top": col.flip(0)[:, None].expand(height, width),
        "radial": _radial(height, width, radius, softness, dtype, dev).float(),
    }
    return torch.stack([by_kind[k] for k in MASK_KINDS])


def _per_item(value: float | Sequence[float], n: int, name: str) -> list[float]:
    values = [value] * n if np.ndim(value) == 0 else list(value)
    if len(values) != n:
        raise UserError("err.mix.bad_shape", name=name, shape=(len(values),))
    return values


def make_masks_torch(kinds: Sequence[str], height: int, width: int, *, ramp: float | Sequence[float],
                     radius: float | Sequence[float], softness: float | Sequence[float],
                     device: str | torch.device | None = None) -> torch.Tensor:
    """One hybrid mask per item, ``(N, H, W)`` float32 on ``device``; row ``k`` equals ``make_mask(kinds[k], ...)``.

    Args:
        kinds: ``N`` names from :data:`MASK_KINDS`.
        height, width: mask size in pixels, ≥ 1.
        ramp, radius, softness: one value for the batch or one per item (see ``make_mask``).
        device: where to build them (default CPU).

    The masks are built once per distinct (ramp, radius, softness) in the batch — usually one — and gathered.

    Raises:
        UserError: the errors of ``make_mask`` (unknown kind, size or fraction out of range).
    """
    codes = [MASK_KINDS.index(check_kind(k)) for k in kinds]
    n = len(codes)
    triples = list(zip(_per_item(ramp, n, "ramp"), _per_item(radius, n, "radius"),
                       _per_item(softness, n, "softness")))
    dev = torch.device(device or "cpu")
    out = torch.empty((n, int(height), int(width)), dtype=torch.float32, device=dev)
    for triple in dict.fromkeys(triples):
        rows = [k for k, t in enumerate(triples) if t == triple]
        bank = mask_set_torch(height, width, ramp=triple[0], radius=triple[1], softness=triple[2], device=dev)
        pick = torch.tensor([codes[k] for k in rows], device=dev)
        out[torch.tensor(rows, device=dev)] = bank[pick]
    return out


def mix_torch(original: torch.Tensor, edited: torch.Tensor, masks: torch.Tensor, fractals: torch.Tensor,
              lam: float | torch.Tensor) -> torch.Tensor:
    """The GenMix image of each item: ``(1 − λ)·(M·I + (1 − M)·E) + λ·F``, evaluated literally as in numpy.

    Args:
        original, edited, fractals: ``(N, 3, H, W)`` float32 in [0, 1].
        masks: ``(N, H, W)`` in [0, 1].
        lam: λ for the batch, or ``(N,)`` one per item, in [0, 1].

    Returns:
        A new ``(N, 3, H, W)`` float32 tensor (inputs untouched).
    """
    m = masks.to(original.dtype)[:, None]
    hyb = m * original + (1.0 - m) * edited
    w = torch.as_tensor(lam, dtype=original.dtype, device=original.device)
    if w.ndim == 1:
        w = w.view(-1, 1, 1, 1)
    return (1.0 - w) * hyb + w * fractals


def fractal_pool_seeds(run_seed: int, count: int = FRACTAL_POOL_SIZE) -> list[int]:
    """``count`` 63-bit fractal seeds of a training run, ``item_seed(run_seed, "genmix-fractal-pool", k)``."""
    return [item_seed(int(run_seed), "genmix-fractal-pool", str(k)) for k in range(int(count))]


def _render_all(render, seeds: list[int], threads: int = _RENDER_THREADS) -> list[np.ndarray]:
    """``[render(s) for s in seeds]``, on several threads when there are several: a 512-px render is large
    numpy array work that runs outside the GIL, and each render is seeded, so the order of work changes
    nothing. The first batches of a run need most of its pool at once (256 renders at 112 px: 6.4 s on one core
    of the 2-core development machine)."""
    workers = min(len(seeds), threads)
    if workers < 2:
        return [render(s) for s in seeds]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="fractal") as pool:
        return list(pool.map(render, seeds))


class FractalBank:
    """The fractals of a seed pool at one size, rendered on first use and kept as uint8 ``(K, 3, H, W)``.

    Args:
        seeds: the pool (e.g. :func:`fractal_pool_seeds`); index ``k`` of :meth:`take` is ``seeds[k]``.
        height, width: the training size.
        folder: a ``FractalFolder`` to read from instead of rendering procedural fractals
            (``fractal_source == "folder"``).
    """

    def __init__(self, seeds: Sequence[int], height: int, width: int, folder=None) -> None:
        self.seeds = [int(s) for s in seeds]
        self.height, self.width = check_size(height, width)
        self.folder = folder
        self._key = key = (tuple(self.seeds), self.height, self.width)
        if folder is None and key in _SHARED_BANKS:   # procedural renders depend on (seed, size) only
            _SHARED_BANKS.move_to_end(key)
            self._cpu, self._ready = _SHARED_BANKS[key]
        else:
            self._cpu = torch.zeros((len(self.seeds), 3, self.height, self.width), dtype=torch.uint8)
            self._ready = np.zeros(len(self.seeds), dtype=bool)
            if folder is None:
                _SHARED_BANKS[key] = (self._cpu, self._ready)
                while len(_SHARED_BANKS) > _SHARED_BANK_COUNT:
                    _SHARED_BANKS.popitem(last=False)
        self._on: dict[torch.device, tuple[torch.Tensor, np.ndarray]] = {}

    def _render(self, seed: int) -> np.ndarray:
        from genmix_core.mixing.fractals import procedural_fractal

        if self.folder is not None:
            return self.folder.get(seed, self.height, self.width)
        return procedural_fractal(seed, self.height, self.width)

    def take(self, index: Sequence[int] | np.ndarray, device: str | torch.device | None = None) -> torch.Tensor:
        """Fractals ``seeds[index]`` as float32 ``(n, 3, H, W)`` in [0, 1] on ``device`` (quantised to 1/255)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        dev = torch.device(device or "cpu")
        ahead = _PREFETCHING.get(self._key) if self.folder is None else None
        if ahead is not None:   # rendering this very pool already: wait rather than render rows twice
            ahead.join()
        self._fill(np.unique(index))
        if dev.type == "cpu":
            bank = self._cpu
        else:
            # The device copy tracks its own rows: a shared CPU bank may have been filled by another instance.
            if dev not in self._on:
                self._on[dev] = (self._cpu.to(dev), self._ready.copy())
            bank, copied = self._on[dev]
            stale = [int(k) for k in np.unique(index) if not copied[k]]
            if stale:
                rows = torch.tensor(stale)
                bank[rows.to(dev)] = self._cpu[rows].to(dev)
                copied[stale] = True
        return bank[torch.as_tensor(index, device=dev)].float().div_(255.0)

    def _fill(self, rows, threads: int = _RENDER_THREADS) -> None:
        """Render the rows of ``rows`` that are not rendered yet, on up to ``threads`` threads."""
        missing = [int(k) for k in rows if not self._ready[k]]
        for k, image in zip(missing, _render_all(self._render, [self.seeds[k] for k in missing], threads)):
            self._cpu[k] = torch.from_numpy(quantize(image))
            self._ready[k] = True


def prefetch_fractal_bank(seeds: Sequence[int], height: int, width: int,
                          processes: int | None = None) -> threading.Thread | None:
    """Start rendering the procedural fractal pool ``seeds`` at ``height × width`` ahead of its use, so that a
    later ``FractalBank(seeds, height, width)`` in this process finds it rendered (its first ``take`` waits for
    the prefetch instead of rendering the same rows again). Returns the background thread that collects it, or
    ``None`` when the pool is rendered or being rendered already.

    ``processes`` (default :data:`_PREFETCH_PROCESSES`: half the cores, at most 8, none below 4 cores): the
    renders run in that many processes of their own (:mod:`genmix_core.mixing.render_main`, every
    ``processes``-th seed each), so they never hold this process's GIL. The thread only waits for their bytes.
    With ``0``, or when a process cannot start or fails, the thread renders the missing rows itself, on up to 4
    threads; a failure there is dropped too, and ``take`` renders what is still missing and reports the error.

    Why processes: a fractal's chaos game is many small numpy steps that hold the GIL, so renders on threads
    slowed the thread that drives the GPU beside them. On an H200 (``bench/bench_train.py``, session 11,
    alternated) the baseline trained in 1.6-1.9 s and evaluated its in-domain images in 1.1-1.3 s while the
    GenMix run's pool rendered on threads beside it, against 0.9-1.0 s and 0.55-0.6 s with the pool rendered in
    processes (PERFORMANCE.md, "Small fine-tune")."""
    bank = FractalBank(seeds, height, width)
    running = _PREFETCHING.get(bank._key)
    if bank._ready.all() or (running is not None and running.is_alive()):
        return None
    processes = _PREFETCH_PROCESSES if processes is None else int(processes)

    def fill() -> None:
        try:
            missing = [k for k in range(len(bank.seeds)) if not bank._ready[k]]
            if processes > 0 and len(missing) > 1:
                try:
                    _render_in_processes(bank, missing, processes)
                except OSError:   # no process could start (or talk): the threads below render every row
                    pass
            bank._fill(range(len(bank.seeds)), threads=_PREFETCH_THREADS)   # what the processes did not give
        except Exception:   # noqa: BLE001 - take() renders what is missing and raises the error itself
            pass
        finally:
            _PREFETCHING.pop(bank._key, None)

    thread = threading.Thread(target=fill, name="fractal-prefetch", daemon=True)
    _PREFETCHING[bank._key] = thread
    thread.start()
    return thread


def _render_in_processes(bank: FractalBank, rows: list[int], processes: int) -> None:
    """Render ``bank``'s ``rows`` in up to ``processes`` child processes (``python -m
    genmix_core.mixing.render_main``), every ``processes``-th row each, and store what each one returns whole.
    A child that fails or returns short leaves its rows unrendered (the caller renders them); a child still
    running when this thread gives up is killed."""
    import json
    import subprocess
    import sys

    from genmix_core.paths import REPO_ROOT, child_env

    env = child_env(OMP_NUM_THREADS="1")
    shares = [rows[i::processes] for i in range(min(processes, len(rows)))]
    procs = []
    try:
        for share in shares:
            proc = subprocess.Popen([sys.executable, "-m", "genmix_core.mixing.render_main"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    cwd=str(REPO_ROOT), env=env)
            procs.append((proc, share))
            proc.stdin.write(json.dumps({"seeds": [bank.seeds[k] for k in share], "height": bank.height,
                                         "width": bank.width}).encode())
            proc.stdin.close()
        size = 3 * bank.height * bank.width
        for proc, share in procs:
            data = proc.stdout.read()
            if proc.wait() != 0 or len(data) != size * len(share):
                continue
            images = np.frombuffer(data, np.uint8).reshape(len(share), 3, bank.height, bank.width)
            for k, image in zip(share, images):
                bank._cpu[k] = torch.from_numpy(image.copy())
                bank._ready[k] = True
    finally:
        for proc, _share in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
