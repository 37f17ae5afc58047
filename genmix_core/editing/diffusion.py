"""What the diffusion editors share: working size, bad-edit check, per-item seeds, micro-batches, OOM back-off.

Both backends (:mod:`.pix2pix`, :mod:`.img2img`) run the same outer recipe:

1. resize every input to its **shape bucket**: the one of a few fixed shapes of about ``size``² pixels whose aspect
   ratio is nearest its own (SDXL-style aspect-ratio bucketing), so a photo set of any mix of shapes needs only a
   few UNet shapes (one compilation each, full batches); ``shapes="aspect"`` instead keeps each photo's own aspect
   ratio at long side ``size`` (one shape per aspect ratio);
2. group the items by working shape (a diffusion batch needs one shape) and run each group in micro-batches, each
   item with its own ``torch.Generator`` so an item's edit does not depend on its batch (diffusers'
   ``test_inference_batch_single_identical``);
3. on out-of-memory, halve the micro-batch and retry (recorded in ``events``);
4. resize each edit back to its input's exact size: the whole image was scaled, never cropped or padded, so the
   edit stays aligned pixel for pixel with the original for the GenMix mask.

The generation job orders its items by :meth:`DiffusionEditor.batch_key` (the bucket), so its batches hold one
shape each.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from genmix_core.editing import loading
from genmix_core.editing.base import Editor, EditorInfo
from genmix_core.editing.memory import run_halving
from genmix_core.errors import OutOfMemoryError, UserError

log = logging.getLogger(__name__)

#: Latent grids of SD-class VAEs are 1/8 of the image, so working dims are multiples of 8.
SIZE_MULTIPLE = 8
#: An edit whose pixel values all lie within this range (in [0, 1] units) is flat: black, white or one grey.
FLAT_RANGE = 4 / 255


def working_size(size: tuple[int, int], long_side: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """The (width, height) a ``size`` image is edited at: long side ``long_side``, aspect kept, multiples of 8.

    Example: (640, 480) at 512 -> (512, 384); (33, 97) at 64 -> (24, 64).
    """
    w, h = int(size[0]), int(size[1])
    if w < 1 or h < 1:
        raise ValueError(f"image size must be positive, got {size}")
    scale = long_side / max(w, h)
    return (max(multiple, int(round(w * scale / multiple)) * multiple),
            max(multiple, int(round(h * scale / multiple)) * multiple))


#: Aspect ratios (width / height) of the shape buckets, from 1:2 to 2:1.
BUCKET_ASPECTS = (1 / 2, 9 / 16, 2 / 3, 3 / 4, 1.0, 4 / 3, 3 / 2, 16 / 9, 2.0)
SHAPE_MODES = ("buckets", "aspect")


def bucket_multiple(size: int) -> int:
    """Bucket sides are multiples of this: 64 px at 512 (a latent grid divisible by the UNet's 3 downsamplings),
    down to 8 px for tiny working sizes."""
    return SIZE_MULTIPLE * min(8, max(1, int(size) // 64))


def shape_buckets(size: int) -> list[tuple[int, int]]:
    """The (width, height) buckets of about ``size``² pixels, one per :data:`BUCKET_ASPECTS`, widest last.

    Example: at 512, 1:1 -> (512, 512), 4:3 -> (576, 448), 16:9 -> (704, 384), 3:4 -> (448, 576).
    """
    m = bucket_multiple(size)
    out: list[tuple[int, int]] = []
    for ar in BUCKET_ASPECTS:
        wh = (max(m, int(round(size * math.sqrt(ar) / m)) * m), max(m, int(round(size / math.sqrt(ar) / m)) * m))
        if wh not in out:
            out.append(wh)
    return out


def bucket_for(image_size: tuple[int, int], size: int) -> tuple[int, int]:
    """The bucket an image of ``image_size`` (width, height) is edited at: nearest aspect ratio (in log scale;
    the first bucket on a tie), so the choice depends on the image's shape alone."""
    w, h = int(image_size[0]), int(image_size[1])
    if w < 1 or h < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    target = math.log(w / h)
    return min(shape_buckets(size), key=lambda b: abs(math.log(b[0] / b[1]) - target))


def is_bad_edit(img: Any) -> bool:
    """True for an edit that must not be used: any NaN/inf, or flat (black, white or a single grey).

    A diffusion model returns such images when it fails (fp16 overflow gives NaN, which becomes black when
    converted to 8 bits; a safety checker blanks the image). Real edits are never that flat.

    Args:
        img: PIL image, or array/tensor ``(H, W, C)`` / ``(C, H, W)``, values in [0, 1] (float) or 0..255 (uint8).
    """
    if isinstance(img, Image.Image):
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    else:
        if hasattr(img, "detach"):
            img = img.detach().float().cpu().numpy()
        arr = np.asarray(img)
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.size == 0 or not np.isfinite(arr).all():
        return True
    return float(arr.max() - arr.min()) <= FLAT_RANGE


def image_key(img: Image.Image) -> str:
    """Content key of an image (same pixels -> same key), to encode each source image once per batch."""
    return hashlib.blake2b(img.tobytes() + repr((img.size, img.mode)).encode(), digest_size=16).hexdigest()


def generators(seeds: list[int]) -> list:
    """One CPU ``torch.Generator`` per item. CPU generators give the same noise on every device."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(s) % (2**63)) for s in seeds]


def is_compile_error(exc: BaseException) -> bool:
    """True for a failure of ``torch.compile`` itself (missing Triton or C compiler, unsupported op)."""
    try:
        from torch._dynamo.exc import TorchDynamoException
    except ImportError:  # pragma: no cover - a PyTorch without dynamo cannot have compiled anything
        return False
    return isinstance(exc, TorchDynamoException)


def to_arrays(decoded) -> list[np.ndarray]:
    """VAE output ``(N, 3, H, W)`` in [-1, 1] -> list of float32 ``(H, W, 3)`` in [0, 1] (NaN kept for checks)."""
    x = (decoded.float() / 2 + 0.5).clamp(0, 1)
    return list(x.permute(0, 2, 3, 1).cpu().numpy())


def to_pil(arr: np.ndarray) -> Image.Image:
    """Float ``(H, W, 3)`` in [0, 1] -> RGB image (NaN -> 0, so a failed edit is black and :func:`is_bad_edit`)."""
    return Image.fromarray((np.nan_to_num(arr, nan=0.0).clip(0, 1) * 255).round().astype(np.uint8), "RGB")


def default_micro_batch(device: str, long_side: int) -> int:
    """Items per pipeline call: by GPU memory at 512², fewer for bigger working sizes; 4 on CPU/MPS.

    Out-of-memory halves it anyway, so this only needs to be a good first guess.
    """
    if device != "cuda":
        return 4
    import torch

    mem_gb = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory / 2**30
    base = 8 if mem_gb < 16 else 16 if mem_gb < 40 else 32 if mem_gb < 100 else 48
    return max(1, int(base * (512 / max(long_side, 64)) ** 2))


def apply_speed_options(pipe, *, channels_last: bool = False, fuse_qkv: bool = False, compile: bool = False,
                        compile_mode: str | None = None, compile_dynamic: bool = False,
                        precompile: bool | str = False, events: list | None = None) -> None:
    """UNet speed levers (see ``shared/docs/performance.md``). Attention already runs through PyTorch SDPA
    (diffusers' default ``AttnProcessor2_0``).

    ``compile`` compiles at fixed shapes (``dynamic=False``), one graph per shape bucket: the editors pad partial
    micro-batches so one compilation serves every call of a bucket. ``compile_dynamic`` compiles one graph with
    symbolic batch and spatial sizes instead (no padding, one compilation for every shape). Compiled artefacts
    go to the workspace's ``cache/torch_compile`` (``TORCHINDUCTOR_CACHE_DIR``), so a later run reuses them.
    Compiling brings channels_last and fused QKV projections with it: both pay once compiled and slow the eager
    UNet down (``bench/bench_unet_levers.py``). ``precompile`` compiles ahead of time per shape instead and keeps
    the compiled functions in ``cache/torch_compile/precompiled`` (:mod:`.precompiled`: a later process loads them
    and traces nothing); where this PyTorch lacks that API it falls back to ``torch.compile`` (``events``).
    ``precompile="load"`` (the Preview page, :mod:`.fast_preview`) only loads functions another process saved,
    runs the eager UNet for shapes that have none and never compiles in this process; the layout changes when
    the first function is loaded.
    """
    import torch

    load_only = compile and precompile == "load" and not compile_dynamic
    if compile:
        channels_last = fuse_qkv = True
        from genmix_core.paths import workspace_root

        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(workspace_root() / "cache" / "torch_compile"))
        # One graph per bucket (plus a spare): more shapes than dynamo's default limit of 8 must not silently
        # fall back to eager.
        limit = len(BUCKET_ASPECTS) + 4
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, name) and getattr(torch._dynamo.config, name) < limit:
                setattr(torch._dynamo.config, name, limit)
    from genmix_core.editing import precompiled

    unet = pipe.unet
    identity = {"channels_last": channels_last, "fuse_qkv": fuse_qkv}
    if load_only:
        if precompiled.available():
            precompiled.install(unet, precompiled_folder(), identity, events, compile_missing=False,
                                prepare=lambda: set_layout(unet, channels_last, fuse_qkv))
        elif events is not None:   # never a torch.compile here: it would trace in the page for half a minute
            events.append({"event": "precompile_unavailable", "torch": torch.__version__})
        return
    set_layout(unet, channels_last, fuse_qkv)
    if compile and precompile and not compile_dynamic:
        if precompiled.available():
            precompiled.install(unet, precompiled_folder(), identity, events)
            return
        if events is not None:
            events.append({"event": "precompile_unavailable", "torch": torch.__version__})
    if compile:
        pipe.unet = torch.compile(unet, mode=compile_mode, dynamic=True if compile_dynamic else False)


def precompiled_folder() -> Path:
    """Where the UNet functions compiled ahead of time live (``cache/torch_compile/precompiled``)."""
    from genmix_core.paths import workspace_root

    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or workspace_root() / "cache" / "torch_compile") \
        / "precompiled"


def set_layout(unet, channels_last: bool, fuse_qkv: bool) -> None:
    """Put the UNet's weights in channels_last order and fuse its attention's Q, K, V projections (in place)."""
    import torch

    if channels_last:
        unet.to(memory_format=torch.channels_last)
    if fuse_qkv:
        unet.fuse_qkv_projections()


class DiffusionEditor(Editor):
    """Base of the diffusion editors: model resolution, lazy loading, grouping, micro-batching, OOM back-off.

    Subclasses set ``editor_id``, ``label_key``, ``pipeline_class()`` and implement ``_edit_group``.

    Attributes:
        micro_batch: items per pipeline call now (halved on out-of-memory).
        events: what happened that a run record should keep, e.g. ``{"event": "oom_backoff", "from": 8, "to": 4}``.
        stats: ``{"edits": n, "bad_edits": n}`` counted over this editor's life.
    """

    editor_id = "diffusion"
    label_key = ""

    def __init__(self, model: str | None, *, pipeline=None, device: str | None = None, precision: str = "auto",
                 size: int = 512, micro_batch: int | None = None, channels_last: bool = False,
                 fuse_qkv: bool = False, compile: bool = False, compile_mode: str | None = None,
                 compile_dynamic: bool = False, precompile: bool | str = False, pad: bool = True,
                 shapes: str = "buckets", progress: loading.ProgressFn | None = None,
                 allow_download: bool = True) -> None:
        import torch

        if not isinstance(size, int) or not 16 <= size <= 4096:
            raise UserError("err.editor.diffusion.bad_size", size=size)
        if shapes not in SHAPE_MODES:
            raise ValueError(f"shapes must be one of {', '.join(SHAPE_MODES)}, got {shapes!r}")
        self.size = size
        self.shapes = shapes
        self._pipe = pipeline
        if pipeline is not None:
            self.model = model or "in-memory pipeline"
            self.folder, self.origin = None, "memory"
            self.device = str(pipeline.device.type)
            self.dtype = pipeline.unet.dtype
        else:
            self.model = str(model)
            self.folder, self.origin = loading.resolve_model(self.model, progress, allow_download)
            self.device = loading.choose_device(device)
            self.dtype = loading.choose_dtype(self.device, precision)
        self.micro_batch = int(micro_batch or default_micro_batch(self.device, size))
        self.events: list[dict[str, Any]] = []
        if compile and self.device != "cuda" and os.environ.get("GENMIX_COMPILE_ON_CPU") != "1":
            # Compiling a full UNet takes minutes on a CPU and gains little there; MPS is not supported.
            # GENMIX_COMPILE_ON_CPU=1 allows it (the tests compile their tiny UNet on the CPU).
            self.events.append({"event": "compile_skipped", "device": self.device})
            log.info("torch.compile is only used on CUDA GPUs; running %s eagerly", self.device)
            compile = False
        self.speed = {"channels_last": channels_last, "fuse_qkv": fuse_qkv, "compile": compile,
                      "compile_mode": compile_mode, "compile_dynamic": bool(compile_dynamic and compile),
                      "precompile": (precompile if precompile == "load" else bool(precompile)) if compile else False}
        self.pad = bool(pad)
        self.stats = {"edits": 0, "bad_edits": 0}
        self._lock = threading.Lock()
        self._speed_applied = False
        self.info = EditorInfo(id=self.editor_id, is_diffusion=True, label_key=self.label_key, model=self.model,
                               device=self.device, dtype=loading.dtype_name(self.dtype),
                               extra={"origin": self.origin, "torch": torch.__version__,
                                      "compiled": compile})

    @staticmethod
    def pipeline_class():
        raise NotImplementedError

    def _prepare_pipeline(self, pipe) -> None:
        """Subclass hook run once after loading (e.g. set the scheduler)."""

    def load(self):
        """Load the pipeline now (first edit does it otherwise). Returns the diffusers pipeline."""
        if self._pipe is None:
            self._pipe = loading.load_pipeline(self.pipeline_class(), self.folder, self.device, self.dtype)
        if not self._speed_applied:
            self._prepare_pipeline(self._pipe)
            apply_speed_options(self._pipe, **self.speed, events=self.events)
            self._speed_applied = True
        return self._pipe

    @property
    def pipe(self):
        return self.load()

    @pipe.setter
    def pipe(self, value) -> None:
        self._pipe = value

    def _edit_group(self, images: list[Image.Image], prompts: list[str], seeds: list[int]) -> list[np.ndarray]:
        """Edit images that all have the same working size. Returns float arrays ``(h, w, 3)`` in [0, 1]."""
        raise NotImplementedError

    def _edit_batch(self, images, prompts, seeds):
        with self._lock:
            self.load()
            groups: dict[tuple[int, int], list[int]] = {}
            for i, im in enumerate(images):
                groups.setdefault(self.batch_key(im.size), []).append(i)
            out: list[Image.Image | None] = [None] * len(images)
            for wh, idx in groups.items():
                resized: dict[int, Image.Image] = {}   # one photo with several prompts is resized once
                for i in idx:
                    if images[i].size != wh and id(images[i]) not in resized:
                        resized[id(images[i])] = images[i].resize(wh, Image.LANCZOS)
                work = [resized.get(id(images[i]), images[i]) for i in idx]
                args = (work, [prompts[i] for i in idx], [seeds[i] for i in idx])
                try:
                    arrays = self._edit_group(*args)
                except Exception as exc:
                    if not (self.speed["compile"] and is_compile_error(exc)):
                        raise
                    self._uncompile(exc)
                    arrays = self._edit_group(*args)
                for i, arr in zip(idx, arrays):
                    self.stats["edits"] += 1
                    self.stats["bad_edits"] += int(is_bad_edit(arr))
                    res = to_pil(arr)
                    out[i] = res if res.size == images[i].size else res.resize(images[i].size, Image.LANCZOS)
            return out

    def preferred_batch_size(self) -> int:
        """The micro-batch: one editor call is one pipeline call (by GPU memory; 4 on CPU/MPS)."""
        return self.micro_batch

    def batch_key(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """The (width, height) an image of ``image_size`` is edited at: items with one key share a batch."""
        if self.shapes == "buckets":
            return bucket_for(image_size, self.size)
        return working_size(image_size, self.size)

    def padded_size(self, n: int) -> int:
        """The batch size ``n`` items run at: ``n`` itself, except for a UNet compiled for fixed shapes, where a
        short batch is padded to the next power of two (at most the micro-batch). A bucket's batches then take
        one or two shapes (full ones and the tail): few compilations, and at most the tail's size wasted. A
        ``pad=False`` (the pages' editors and the process that compiles for them) runs every batch at its own
        size: their few batch sizes are compiled exactly (:mod:`.fast_preview`), and an eager row of 3 prompts
        padded to 4 would do a third more work until then (or for good, on a GPU without room to compile)."""
        if not self.speed["compile"] or self.speed["compile_dynamic"] or not self.pad or n >= self.micro_batch:
            return n
        return min(self.micro_batch, 1 << (max(1, n) - 1).bit_length())

    def _uncompile(self, exc: BaseException) -> None:
        """Go back to the eager UNet after ``torch.compile`` failed (no Triton or C compiler on this PC, say)."""
        unet = self._pipe.unet
        self._pipe.unet = unet = getattr(unet, "_orig_mod", unet)
        unet.__dict__.pop("forward", None)   # a precompiled forward (editing/precompiled.py) set on the instance
        self.speed["compile"] = False
        self.info.extra["compiled"] = False
        self.events.append({"event": "compile_failed", "error": " ".join(str(exc).split())[:300]})
        log.warning("torch.compile failed, editing without it: %s", exc)

    def chunked(self, n: int, fn: Callable[[int, int], list], stage: str) -> list:
        """Run ``fn(start, stop)`` over ``range(n)`` in micro-batches, halving the micro-batch on out-of-memory
        (:func:`genmix_core.editing.memory.run_halving`).

        Raises:
            OutOfMemoryError: ``err.editor.diffusion.out_of_memory`` when even one item does not fit.
        """
        def halved(old: int, new: int) -> None:
            self.micro_batch = new
            self.events.append({"event": "oom_backoff", "stage": stage, "from": old, "to": new})
            log.warning("out of memory in %s: micro-batch %d -> %d", stage, old, new)

        out, self.micro_batch = run_halving(
            n, fn, self.micro_batch, on_halve=halved,
            too_big=lambda exc: OutOfMemoryError("err.editor.diffusion.out_of_memory", device=self.device,
                                                 size=self.size))
        return out

    def settings(self) -> dict[str, Any]:
        settings = {"editor": self.editor_id, "model": self.model, "size": self.size,
                    "dtype": loading.dtype_name(self.dtype)}
        if self.shapes != "aspect":  # edits made before buckets keep their cache keys
            settings["shapes"] = self.shapes
        return settings
