"""Faster previews on a GPU: the Preview page's UNet shapes compiled ahead of time by a process of their own.

The interactive pages edit one photo with every active prompt as one batch, 20 steps (the editor's
``preview_settings``). On an H200 that takes 1.1-1.5 s with the eager UNet and 0.83 s compiled
(``docs/PERFORMANCE.md``), but compiling one shape takes 35-40 s, which a page must not spend while the user
waits, and dynamo is not thread-safe, so it cannot run in a thread of the page either. So:

1. the pages' editor only *loads* compiled functions (``precompile="load"``, :mod:`.precompiled`): a shape
   without one runs the eager UNet in its usual layout;
2. after a page's edit on a GPU, :func:`ensure_fast_preview` starts this module in a process of its own
   (``python -m genmix_core.editing.fast_preview_main --run DIR``) for the shapes the page uses: the shape
   bucket of the photo on screen, then those of the project's other photos, each at the row's batch size and at
   one prompt. The process loads a second copy of the model (only when
   the GPU has :data:`MIN_FREE_GIB` free), edits a grey picture of each shape, which compiles and saves the
   function (or loads it, when an earlier run saved it), records the shape as ready with the files' keys and
   exits;
3. the page's next edit of that shape loads the saved function (1-2 s, once per server) and runs compiled.

The functions live in ``cache/torch_compile/precompiled`` with the generation job's: a ``--compile`` run of the
same shape and batch serves the page too, and a later server loads them at once. A preparation that failed is
not started again for the same shapes (its message says why, its log is kept in the run folder);
``GENMIX_FAST_PREVIEW=0`` turns the whole thing off.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json, read_json
from genmix_core.jobconfig import JobSpec, setting

#: Free GPU memory the preparing process needs (a second copy of an SD1.5-class model, 2.6 GB in fp16, and the
#: compile's work at batch 8: the generation job peaked at 6.3 GiB compiled at batch 8 on an H200).
MIN_FREE_GIB = 10.0
#: What the preparing process edits (any text: the compiled function depends on shapes, not words).
PROMPT = "make it snowy"
READY_FILE = "ready.json"
ENV = "GENMIX_FAST_PREVIEW"
#: Photo shapes one preparation compiles at most (each at two batch sizes, about a minute each on an H200).
MAX_SHAPES = 4
_LAUNCH = threading.Lock()


def enabled() -> bool:
    """Whether the pages' diffusion editors run compiled functions when prepared: on a CUDA GPU whose PyTorch
    compiles ahead of time, unless ``GENMIX_FAST_PREVIEW=0`` (``1`` turns it on without a GPU: tests, with
    ``GENMIX_COMPILE_ON_CPU=1``)."""
    flag = os.environ.get(ENV, "")
    if flag == "0":
        return False
    from genmix_core.editing import precompiled
    from genmix_core.editing.loading import choose_device

    if not precompiled.available():
        return False
    return flag == "1" or choose_device(None) == "cuda"


def preview_editor_settings(editor_id: str) -> dict[str, Any]:
    """The settings the interactive pages create ``editor_id`` with: its faster preset, and for a diffusion
    editor where :func:`enabled`, load-only compiled functions (:mod:`.precompiled`)."""
    from genmix_core.editing.registry import editor_spec

    spec = editor_spec(editor_id)
    settings = dict(spec.preview_settings)
    if spec.is_diffusion and enabled():
        settings.update(compile=True, precompile="load", pad=False)
    return settings


@dataclass
class FastPreviewConfig:
    """What one preparation compiles (``config.json`` of its run folder)."""

    job: ClassVar[JobSpec] = JobSpec(kind="fast_preview", module="genmix_core.editing.fast_preview_main",
                                     not_a_run_key="err.editor.fast_preview.not_a_run")

    editor: str = setting(help="the diffusion editor whose preview preset is compiled, e.g. instruct-pix2pix")
    shapes: list[str] = setting(metavar="WxH,...", help="working shapes (shape buckets) to compile, e.g. 512x512")
    batches: list[int] = setting(metavar="N,...", help="items per editor call to compile each shape for, e.g. 4,1")
    model: str = setting("", help="its model: hub id, hub cache or folder (default: the editor's default model)")
    size: int = setting(512, help="the editor's working size (the pages': 512), so the shapes are edited as given")


def _shape(text: str) -> tuple[int, int]:
    w, _, h = str(text).lower().partition("x")
    return int(w), int(h)


def run_folder(editor_id: str, model: str | None) -> Path:
    """The run folder of the preparations for one editor and model (``cache/fast_preview/<hash>``)."""
    from genmix_core.paths import workspace_root

    digest = hashlib.sha256(f"{editor_id}\n{model or ''}".encode()).hexdigest()[:16]
    return workspace_root() / "cache" / "fast_preview" / f"{editor_id}-{digest}"


def plan(editor, image_size: tuple[int, int], row: int,
         other_sizes: Sequence[tuple[int, int]] = ()) -> tuple[list[str], list[int]]:
    """The shapes and batch sizes the pages edit at: the shape bucket of the photo on screen (``image_size``, the
    preview's copy) first, then those of ``other_sizes`` (the project's other photos), most frequent first, at most
    :data:`MAX_SHAPES` in all; the batches: the row of ``row`` prompts and one prompt alone (as the editor runs
    them: the pages' editors do not pad)."""
    counts = Counter(editor.batch_key(size) for size in other_sizes)
    first = editor.batch_key(image_size)
    order = [first] + [b for b, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if b != first]
    batches = list(dict.fromkeys(editor.padded_size(n) for n in (max(1, int(row)), 1)))
    return [f"{w}x{h}" for w, h in order[:MAX_SHAPES]], batches


def _context() -> dict[str, str]:
    """What a compiled function is valid for besides its shape (its key holds these too; see precompiled.py)."""
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"torch": torch.__version__, "gpu": gpu}


def _ready_entries(folder: Path) -> list[dict]:
    data = read_json(folder / READY_FILE, default={}) or {}
    if not isinstance(data, dict) or data.get("context") != _context():
        return []
    return [e for e in data.get("ready") or [] if isinstance(e, dict)]


def _is_ready(folder: Path, shape: str, batch: int) -> bool:
    from genmix_core.editing.diffusion import precompiled_folder
    from genmix_core.editing.precompiled import SUFFIX

    files = precompiled_folder()
    for entry in _ready_entries(folder):
        if entry.get("shape") == shape and entry.get("batch") == batch:
            keys = entry.get("keys") or []
            return bool(keys) and all((files / f"{k}{SUFFIX}").is_file() for k in keys)
    return False


@dataclass
class FastPreviewStatus:
    """Where the faster previews of one photo shape stand, for a caption.

    Attributes:
        state: ``ready`` (compiled functions saved: the page runs them), ``preparing`` (the process runs),
            ``failed`` (it stopped with an error; not started again for these shapes), ``no_memory`` (too little
            free GPU memory to start it), ``off`` (not a diffusion editor, no GPU, or turned off).
        message_key, params: the caption (``editor.fast_preview.<state>``) and its placeholders.
        log: the preparation's log file (``failed``).
    """

    state: str
    done: int = 0
    total: int = 0
    message_key: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    log: str = ""


def fast_preview_status(editor_id: str, model: str | None, shape: str, batches: list[int]) -> FastPreviewStatus:
    """The state of the preparation of ``shape`` at ``batches`` (see :class:`FastPreviewStatus`); starts nothing."""
    from genmix_core.jobconfig import read_stored_args
    from genmix_core.jobs import ACTIVE, LOG_FILE, read_job

    folder = run_folder(editor_id, model)
    if all(_is_ready(folder, shape, b) for b in batches):
        return FastPreviewStatus("ready", message_key="editor.fast_preview.ready", params={"shape": shape})
    job = read_job(folder)
    args = read_stored_args(folder, FastPreviewConfig) or {}
    ours = shape in (args.get("shapes") or []) and set(batches) <= set(args.get("batches") or [])
    if job is not None and job.status in ACTIVE:
        return FastPreviewStatus("preparing", job.done, job.total, "editor.fast_preview.preparing",
                                 {"done": job.done, "total": job.total or len(batches)})
    if job is not None and ours and job.status in ("failed", "interrupted"):
        error = job.error or job.status
        return FastPreviewStatus("failed", job.done, job.total, "editor.fast_preview.failed",
                                 {"error": " ".join(error.split())[:200], "log": str(folder / LOG_FILE)},
                                 log=str(folder / LOG_FILE))
    return FastPreviewStatus("off")


def ensure_fast_preview(editor, editor_id: str, model: str | None, image_size: tuple[int, int], row: int,
                        other_sizes: Sequence[tuple[int, int]] = ()) -> FastPreviewStatus:
    """After a page's edit: the state of the faster previews for the photo on screen (``image_size``, the
    preview's copy; ``row`` prompts edited together), starting a preparation when nothing is ready, running or
    failed for its shape and the GPU has room for it. The preparation also takes the shapes of ``other_sizes``
    (the project's other photos, their own sizes) that are not ready yet, after this one (:func:`plan`).

    Returns ``off`` for an editor that does not load compiled functions (``precompile="load"``).
    """
    if getattr(editor, "speed", {}).get("precompile") != "load":
        return FastPreviewStatus("off")
    shapes, batches = plan(editor, image_size, row, other_sizes)
    with _LAUNCH:   # two sessions of one server must not both start it (the second start would be refused)
        return _ensure(editor, editor_id, model, shapes, batches)


def _ensure(editor, editor_id: str, model: str | None, shapes: list[str], batches: list[int]) -> FastPreviewStatus:
    status = fast_preview_status(editor_id, model, shapes[0], batches)
    if status.state != "off":
        return status
    free = _free_gib(editor)
    if free is not None and free < MIN_FREE_GIB:
        return FastPreviewStatus("no_memory", message_key="editor.fast_preview.no_memory",
                                 params={"need": f"{MIN_FREE_GIB:.0f}", "free": f"{free:.1f}"})
    from genmix_core.jobconfig import launch

    folder = run_folder(editor_id, model)
    todo = [s for s in shapes if s == shapes[0] or not all(_is_ready(folder, s, b) for b in batches)]
    launch(folder, FastPreviewConfig(editor=editor_id, shapes=todo, batches=batches, model=model or "",
                                     size=int(getattr(editor, "size", 512))))
    total = len(todo) * len(batches)
    return FastPreviewStatus("preparing", 0, total, "editor.fast_preview.preparing", {"done": 0, "total": total})


def _free_gib(editor) -> float | None:
    """Free memory of the editor's GPU in GiB (None: not a CUDA device)."""
    if getattr(editor, "device", "") != "cuda":
        return None
    import torch

    free, _ = torch.cuda.mem_get_info()
    return free / 2**30


# --- the preparing process --------------------------------------------------------------------------------

def preparing_editor(cfg: FastPreviewConfig):
    """The pages' editor as the preparing process makes it: the same settings, but compiling what it lacks.
    Batches run at their own size, as on the pages, so each compiled function is the one a page asks for."""
    from genmix_core.editing.registry import create_editor

    settings = {**preview_editor_settings(cfg.editor), "compile": True, "precompile": True, "pad": False,
                "size": cfg.size}
    return create_editor(cfg.editor, model=cfg.model or None, allow_download=False, **settings)


def prepare(cfg: FastPreviewConfig, reporter, folder: Path) -> list[dict]:
    """Compile (or load) the UNet for each shape x batch of ``cfg`` through the editor the pages use, recording
    each as ready in ``folder``; returns the editor's events.

    Raises:
        UserError: ``err.editor.fast_preview.compile_failed`` when compiling failed (the editor went back to
        its eager UNet, so nothing was saved).
    """
    from PIL import Image

    pairs = [(_shape(s), int(b)) for s in cfg.shapes for b in cfg.batches if not _is_ready(folder, s, int(b))]
    reporter.update(done=0, total=len(pairs), message_key="editor.fast_preview.compiling", force=True)
    if not pairs:
        return []
    editor = preparing_editor(cfg)
    if not editor.speed.get("precompile"):
        raise UserError("err.editor.fast_preview.compile_failed", error="compiling is off for this device")
    context = _context()
    for done, ((w, h), batch) in enumerate(pairs, 1):
        if reporter.cancel_requested():
            raise _Cancelled()
        before = len(editor.events)
        grey = Image.new("RGB", (w, h), (128, 128, 128))
        editor.edit_batch([grey] * batch, [PROMPT] * batch, list(range(batch)))
        if not editor.speed["compile"]:
            failed = [e for e in editor.events if e.get("event") == "compile_failed"]
            raise UserError("err.editor.fast_preview.compile_failed",
                            error=failed[-1]["error"] if failed else "unknown")
        keys = sorted({e["key"] for e in editor.events[before:]
                       if e.get("event") in ("precompiled", "precompile_loaded")})
        if not keys:   # would never count as ready, and the pages would start this again and again
            raise UserError("err.editor.fast_preview.compile_failed",
                            error=f"no compiled function came out for {w}x{h} at {batch} at a time")
        entries = [e for e in _ready_entries(folder) if (e.get("shape"), e.get("batch")) != (f"{w}x{h}", batch)]
        entries.append({"shape": f"{w}x{h}", "batch": batch, "keys": keys})
        atomic_write_json(folder / READY_FILE, {"context": context, "ready": entries})
        reporter.update(done=done, force=True)
    reporter.state.extra["events"] = editor.events
    return editor.events


class _Cancelled(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    """``python -m genmix_core.editing.fast_preview_main --run DIR`` (what the pages start), or with flags."""
    from genmix_core.jobconfig import build_parser, config_from_argv
    from genmix_core.jobs import run_claimed

    parser = build_parser(FastPreviewConfig, "python -m genmix_core.editing.fast_preview_main",
                          "Compile the Preview page's UNet shapes ahead of time (started by the pages on a GPU).")
    ns_argv = list(sys.argv[1:] if argv is None else argv)
    cfg = config_from_argv(FastPreviewConfig, parser, ns_argv)
    run = ns_argv[ns_argv.index("--run") + 1] if "--run" in ns_argv else None
    folder = Path(run) if run else run_folder(cfg.editor, cfg.model or None)
    code, _ = run_claimed(folder, "fast_preview", "err.editor.fast_preview.busy",
                          lambda reporter: prepare(cfg, reporter, folder), _Cancelled)
    return code

