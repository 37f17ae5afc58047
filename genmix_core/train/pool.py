"""The training pool of one condition: images held once at training size, batches drawn by index.

GenMix items are re-mixed from their cached edit on every pass, batched on the training device
(see :class:`TrainPool`); ``budget_order`` spreads a fixed sample budget over seeded passes of the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from genmix_core.seeds import item_seed

MIX_PARTS = ("edit", "fractal", "contrast")
"""The parts of a GenMix mix ``A = (1 − λ)·(M·I + (1 − M)·E) + λ·F``: the edit ``E`` (without it ``E = I``), the
fractal ``λ·F`` (without it ``F = 0``) and the contrast scaling ``(1 − λ)`` (without it, and without the
fractal, ``λ = 0``). The controls of issue #15 switch parts off; a fractal without the scaling is not a mix."""


@dataclass(frozen=True)
class PoolItem:
    """One entry of a training pool.

    Attributes:
        image: Row of ``TrainPool.images`` (an original, a raw edit, or a stored GenMix image).
        label: Class index.
        edit: Row of the cached edit of ``image`` for a GenMix item whose mix is drawn at training time;
            ``-1`` means ``image`` is used as it is.
        key: Stable identity of the item (original path + prompt) that seeds its per-pass mix.
    """

    image: int
    label: int
    edit: int = -1
    key: str = ""


class TrainPool:
    """Images of one condition, held once at training resolution as ``uint8`` ``(M, H, W, 3)``.

    A batch is an index into one ``uint8`` tensor ``(M, 3, H, W)`` on the training device (moved there once);
    GenMix items are mixed there too, the whole batch at once (``genmix_core.mixing.torch_ops``).

    Fractals come from a finite per-run pool: ``fractal_seeds`` = ``fractal_pool_seeds(mix_seed)`` (256
    63-bit seeds), each rendered once at the training size. An item's draw is the one of
    ``sample_mix_params`` (same generator, same mask); its 63-bit fractal draw ``s`` picks the pooled seed
    ``fractal_seeds[s % 256]``, so every record names a real fractal seed that ``apply_mix`` rebuilds.

    Args:
        images: All pixel arrays the items refer to.
        items: The pool entries (their order is the pool index).
        mix_seed: Run seed for the GenMix re-draws and the fractal pool.
        redraw: Draw a new mix every pass over the pool (``True``) or keep the pass-0 mix for ever.
        mix_options: Keyword arguments for ``genmix_core.mixing.sample_mix_params`` (mask set, ramp, λ...).
        fractals: Optional ``FractalFolder`` with the user's fractal images.
        parts: Which parts of the mix to apply (:data:`MIX_PARTS`); the draws (mask, λ, fractal) are the same
            whatever the parts, so a control is paired with GenMix draw by draw.
    """

    def __init__(self, images: np.ndarray, items: list[PoolItem], *, mix_seed: int = 0, redraw: bool = True,
                 mix_options: dict | None = None, fractals=None, parts: tuple[str, ...] = MIX_PARTS) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (M, H, W, 3), got {images.dtype} {images.shape}")
        self.images = images
        self.items = list(items)
        self.mix_seed = int(mix_seed)
        self.redraw = redraw
        self.mix_options = dict(mix_options or {})
        self.fractals = fractals
        self.parts = tuple(parts)
        if set(self.parts) - set(MIX_PARTS) or ("fractal" in self.parts and "contrast" not in self.parts):
            raise ValueError(f"parts must be a subset of {MIX_PARTS} with 'contrast' whenever 'fractal', "
                             f"got {parts!r}")
        self._rows = np.array([it.image for it in self.items], dtype=np.int64)
        self._edits = np.array([it.edit for it in self.items], dtype=np.int64)
        self._labels = torch.tensor([it.label for it in self.items], dtype=torch.long)
        self._stores: dict[torch.device, torch.Tensor] = {}
        self._bank = None
        self._seeds: list[int] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of every image."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def fractal_seeds(self) -> list[int]:
        """The run's fractal pool: every GenMix record's ``fractal_seed`` is one of these."""
        return list(self._pool_seeds())

    def _pool_seeds(self) -> list[int]:
        if self._seeds is None:
            from genmix_core.mixing import fractal_pool_seeds

            self._seeds = fractal_pool_seeds(self.mix_seed)
        return self._seeds

    def _draw(self, index: int, pass_index: int):
        """``(MixParams, pool row of its fractal)`` of GenMix item ``index`` in pass ``pass_index``."""
        from genmix_core.mixing import sample_mix_params

        item = self.items[index]
        p = pass_index if self.redraw else 0
        rng = np.random.default_rng(item_seed(self.mix_seed, item.key, f"genmix-pass-{p}"))
        params = sample_mix_params(rng, **self.mix_options)
        seeds = self._pool_seeds()
        k = params.fractal_seed % len(seeds)
        return replace(params, fractal_seed=seeds[k]), k

    @property
    def mixes(self) -> bool:
        """Whether any item is mixed at draw time (a GenMix pool with re-drawn mixes)."""
        return bool((self._edits >= 0).any())

    def mix_params(self, index: int, pass_index: int):
        """The ``MixParams`` of GenMix item ``index`` in pass ``pass_index`` (same inputs, same mix)."""
        return self._draw(index, pass_index)[0]

    def _fractal_bank(self):
        if self._bank is None:
            from genmix_core.mixing import FractalBank

            folder = self.fractals if self.mix_options.get("fractal_source") == "folder" else None
            if self.mix_options.get("fractal_source") == "folder" and folder is None:
                from genmix_core.errors import UserError

                raise UserError("err.mix.needs_fractal_folder")
            self._bank = FractalBank(self._pool_seeds(), *self.size, folder=folder)
        return self._bank

    def _store(self, device: torch.device) -> torch.Tensor:
        """All images as one ``uint8 (M, 3, H, W)`` tensor on ``device``, made once per device."""
        if device not in self._stores:
            store = torch.from_numpy(self.images).permute(0, 3, 1, 2).contiguous()
            self._stores[device] = store.to(device)
        return self._stores[device]

    def image(self, index: int, pass_index: int = 0) -> np.ndarray:
        """Item ``index`` as float32 ``(H, W, 3)`` in [0, 1] (mixed now for a GenMix item), as trained on."""
        x, _ = self.batch(np.array([index]), np.array([pass_index]))
        return x[0].permute(1, 2, 0).numpy()

    def batch(self, indices: np.ndarray, passes: np.ndarray,
              device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, 3, H, W)`` float32 in [0, 1] and labels ``(N,)`` int64 for the given draws, on ``device``.

        GenMix items are mixed on ``device``, batched: masks from ``make_masks_torch``, fractals from the
        run's ``FractalBank``, blend by ``mix_torch`` (the numpy formulas, evaluated in the same order).
        """
        from genmix_core.mixing import make_masks_torch, mix_torch

        dev = torch.device(device)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        store = self._store(dev)
        x = store[torch.from_numpy(self._rows[idx]).to(dev)].float().div_(255.0)
        mixed = np.flatnonzero(self._edits[idx] >= 0)
        if mixed.size:
            draws = [self._draw(int(idx[k]), int(passes[k])) for k in mixed]
            params = [d[0] for d in draws]
            masks = make_masks_torch([q.mask for q in params], *self.size, ramp=[q.ramp for q in params],
                                     radius=[q.radius for q in params], softness=[q.softness for q in params],
                                     device=dev)
            rows = torch.from_numpy(mixed).to(dev)
            # A part switched off is a neutral value in the same formula: E = I, F = 0, λ = 0.
            edited = (store[torch.from_numpy(self._edits[idx[mixed]]).to(dev)].float().div_(255.0)
                      if "edit" in self.parts else x[rows])
            fractals = (self._fractal_bank().take([d[1] for d in draws], dev) if "fractal" in self.parts
                        else torch.zeros_like(x[rows]))
            lam = torch.tensor([q.lam if "contrast" in self.parts else 0.0 for q in params])
            x[rows] = mix_torch(x[rows], edited, masks, fractals, lam)
        return x, self._labels[torch.from_numpy(idx)].to(dev)


def budget_order(pool_size: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Which pool item each of ``n_samples`` draws takes: seeded permutations of the pool, back to back.

    Returns:
        ``(indices, passes)``, both ``(n_samples,)`` int arrays; ``passes[k]`` is how many complete passes
        over the pool preceded draw ``k`` (it keys the GenMix re-draw).
    """
    if pool_size <= 0:
        raise ValueError("the training pool is empty")
    n_passes = -(-n_samples // pool_size)
    indices = np.concatenate([rng.permutation(pool_size) for _ in range(n_passes)])[:n_samples]
    passes = np.arange(n_samples) // pool_size
    return indices, passes
