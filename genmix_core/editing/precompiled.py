"""The UNet compiled ahead of time per input shape and kept on disk, so a later process traces nothing.

``torch.compile`` caches its kernels on disk (``TORCHINDUCTOR_CACHE_DIR``), but every new process still traces the
UNet again with dynamo, about 10 s per shape bucket on an H200 (``docs/PERFORMANCE.md``, "The user's path"). This
module uses PyTorch's ahead-of-time path instead (``torch.compile(fn).aot_compile`` and
``torch.compiler.load_compiled_function``, experimental in PyTorch 2.13): for each input signature (shapes,
dtypes, devices of the UNet's sample, timestep and text embeddings) the UNet's forward is compiled once, saved as
one small file (the UNet is an *argument* of the compiled function, so the file holds no weights: a few MB), and
loaded by later runs in seconds. On an H200 (PyTorch 2.11, SD1.5 InstructPix2Pix, 4 shape buckets, session 9):
34-43 s of compiling per bucket on the first run, 1.1-2.2 s of loading per bucket on the next, whose whole
start-up (Python, model, loading) took 22.6 s against 68 s for ``torch.compile`` with a warm cache and 27 s for
the eager UNet; the edits themselves as fast as ``torch.compile``'s.

:func:`install` replaces the UNet's ``forward`` on the instance: the pipeline keeps its own UNet object (config,
dtype, device, hooks). A call with arguments the compiled function does not take (SDXL's ``added_cond_kwargs``,
other extra conditioning) goes through a plain ``torch.compile`` of the same forward instead, made at the first
such call and traced in every process (event ``precompile_not_used``). A file that cannot be loaded (another
PyTorch or GPU, a damaged file) is compiled again and replaced; a file that cannot be written (a full disk)
leaves the compiled function in memory for this run.
``events`` records what happened per signature, for the run record.

Used by the diffusion editors whenever they compile for fixed shapes (``precompile=True``: the generation job's
``--compile``; ``GENMIX_PRECOMPILE=0`` turns it off for a comparison; CUDA only, like every compile here). The
Preview page only *loads* (``compile_missing=False``): a shape without a saved function runs the eager UNet,
while a separate process (:mod:`.fast_preview`) compiles the page's shapes and saves them; the page takes each
function up at its next UNet call, and the UNet's layout (channels_last, fused QKV) is changed when the first
one is loaded (``prepare``), so the eager previews before it keep the faster eager layout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

#: File suffix of a saved compiled function.
SUFFIX = ".precompiled"


def available() -> bool:
    """True when this PyTorch has the ahead-of-time compile API."""
    import torch

    needed = ("load_compiled_function", "keep_portable_guards_unsafe")
    return all(hasattr(torch.compiler, n) for n in needed) and hasattr(torch._dynamo.config, "enable_aot_compile")


def _spec(value) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return [list(value.shape), list(value.stride()), str(value.dtype), str(value.device),
                value.requires_grad]
    return repr(value)


class PrecompiledForward:
    """A replacement ``forward`` for one UNet instance: compiled functions per input signature, from
    ``folder`` when saved there, else compiled now and saved.

    Args:
        unet: the diffusers UNet (its class's ``forward`` is what gets compiled).
        folder: where the compiled functions live (the workspace's ``cache/torch_compile/precompiled``).
        identity: what else makes a compiled function valid (e.g. channels_last, fused QKV): part of each key.
        events: list to append what happened to (the editor's ``events``); a new list when omitted.
        compile_missing: False: a signature without a saved function runs the eager forward (looked for again
            at every call, so a function another process saves is taken up; nothing is compiled here).
        prepare: called once, before the first function is used (e.g. the layout the functions were made for).
    """

    def __init__(self, unet, folder: str | Path, identity: dict | None = None,
                 events: list | None = None, *, compile_missing: bool = True,
                 prepare: Callable[[], None] | None = None) -> None:
        import torch

        self.unet = unet
        self.folder = Path(folder)
        self.eager = type(unet).forward
        self.events: list[dict[str, Any]] = events if events is not None else []
        self.compile_missing = compile_missing
        self._prepare = prepare
        self._missing: set[str] = set()   # signatures run eagerly so far (load-only): one event each
        self._unloadable: set[str] = set()   # saved functions that did not load here (load-only)
        self._fns: dict[str, Any] = {}
        self._traced = None   # torch.compile of the forward, for calls the compiled functions do not take
        self._lock = threading.Lock()
        # The architecture only: diffusers' private entries (``_use_default_values`` is a set, so its order, and
        # the key with it, would change from process to process) say nothing about what gets compiled.
        config = {k: v for k, v in dict(getattr(unet, "config", {}) or {}).items() if not k.startswith("_")}
        base = {"unet": type(unet).__name__, "config": config, "torch": torch.__version__,
                "dtype": str(unet.dtype), **(identity or {})}
        self._base = json.dumps(base, sort_keys=True, default=str)   # once: key() runs at every UNet call

    def key(self, sample, timestep, encoder_hidden_states) -> str:
        """File stem of the compiled function for these inputs (also the guard mode: grad on or off)."""
        import torch

        gpu = torch.cuda.get_device_name(sample.device) if sample.device.type == "cuda" else ""
        spec = {"gpu": gpu, "grad": torch.is_grad_enabled(), "inference": torch.is_inference_mode_enabled(),
                "inputs": [_spec(v) for v in (sample, timestep, encoder_hidden_states)]}
        blob = self._base + json.dumps(spec, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def __call__(self, sample, timestep, encoder_hidden_states=None, *args, return_dict: bool = True, **kwargs):
        extra = args or any(v is not None for v in kwargs.values())
        if extra or encoder_hidden_states is None or not hasattr(timestep, "shape"):
            forward = self._traced_forward() if self.compile_missing else self.eager   # load-only: no tracing here
            return forward(self.unet, sample, timestep, encoder_hidden_states, *args, return_dict=return_dict,
                           **kwargs)
        fn = self._function(sample, timestep, encoder_hidden_states)
        if fn is None:   # load-only, and nothing saved for this signature yet
            return self.eager(self.unet, sample, timestep, encoder_hidden_states, return_dict=return_dict, **kwargs)
        out = fn(self.unet, sample, timestep, encoder_hidden_states)
        if not return_dict:
            return (out,)
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

        return UNet2DConditionOutput(sample=out)

    def _traced_forward(self):
        """``torch.compile`` of the class's forward (fixed shapes), made once, for calls with other arguments."""
        with self._lock:
            if self._traced is None:
                import torch

                self._traced = torch.compile(self.eager, dynamic=False)
                self.events.append({"event": "precompile_not_used",
                                    "why": "the UNet is called with extra arguments: torch.compile instead"})
            return self._traced

    def _function(self, sample, timestep, encoder_hidden_states):
        key = self.key(sample, timestep, encoder_hidden_states)
        fn = self._fns.get(key)
        if fn is not None:
            return fn
        with self._lock:
            if key in self._fns:
                return self._fns[key]
            if not self.compile_missing:
                if key in self._unloadable:
                    return None
                if not (self.folder / f"{key}{SUFFIX}").is_file():
                    if key not in self._missing:
                        self._missing.add(key)
                        self.events.append({"event": "precompile_missing", "key": key})
                    return None
            fn = self._load(key)
            if fn is None and not self.compile_missing:
                self._unloadable.add(key)   # recorded by _load: eager from now on, not tried at every call
                return None
            if self._prepare is not None:
                self._prepare()
                self._prepare = None
            self._fns[key] = fn or self._compile(key, sample, timestep, encoder_hidden_states)
            return self._fns[key]

    def _load(self, key: str):
        import torch

        path = self.folder / f"{key}{SUFFIX}"
        if not path.is_file():
            return None
        t0 = time.perf_counter()
        try:
            with open(path, "rb") as f:
                fn = torch.compiler.load_compiled_function(f)
        except Exception as exc:  # noqa: BLE001 - another PyTorch or GPU, a cut file: compile afresh
            log.warning("precompiled UNet %s could not be loaded (%s)%s", path.name, exc,
                        "; compiling it again" if self.compile_missing else "; running it eagerly")
            self.events.append({"event": "precompile_reload_failed", "key": key, "error": str(exc)[:200]})
            return None
        self.events.append({"event": "precompile_loaded", "key": key,
                            "seconds": round(time.perf_counter() - t0, 2)})
        return fn

    def _compile(self, key: str, sample, timestep, encoder_hidden_states):
        import torch

        torch._dynamo.config.enable_aot_compile = True
        eager = self.eager

        def step(model, x, t, ctx):
            return eager(model, x, t, encoder_hidden_states=ctx, return_dict=False)[0]

        t0 = time.perf_counter()
        compiled = torch.compile(step, fullgraph=True, dynamic=False,
                                 options={"guard_filter_fn": torch.compiler.keep_portable_guards_unsafe})
        # The saved guards hold a picture of the UNet object; this forward (locks, compiled functions) is no part
        # of it, so it leaves the instance while compiling (calls meanwhile run the class's eager forward).
        mine = self.unet.__dict__.pop("forward", None)
        try:
            fn = compiled.aot_compile(((self.unet, sample, timestep, encoder_hidden_states), {}))
        finally:
            if mine is not None:
                self.unet.__dict__["forward"] = mine
        event = {"event": "precompiled", "key": key, "seconds": round(time.perf_counter() - t0, 1)}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Under a temporary name, then renamed: a page that loads while this is written (the Preview page
            # and the process that compiles for it) sees no file or the whole file, never a part.
            tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
            try:
                fn.save_compiled_function(str(tmp))
                os.replace(tmp, self.folder / f"{key}{SUFFIX}")
            finally:
                tmp.unlink(missing_ok=True)
        except (OSError, RuntimeError) as exc:   # a full disk, or an object the artifact cannot hold
            log.warning("precompiled UNet kept in memory only: %s", exc)
            event["saved"] = False
            event["error"] = str(exc)[:200]
        self.events.append(event)
        return fn


def install(unet, folder: str | Path, identity: dict | None = None, events: list | None = None, *,
            compile_missing: bool = True, prepare: Callable[[], None] | None = None) -> PrecompiledForward:
    """Make ``unet``'s calls go through a :class:`PrecompiledForward` (on this instance only); returns it."""
    forward = PrecompiledForward(unet, folder, identity, events, compile_missing=compile_missing, prepare=prepare)
    unet.forward = forward
    return forward
