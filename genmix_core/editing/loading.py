"""Where a diffusion model comes from, whether it is safe to load, and which device and precision run it.

A model is named in one of three ways, tried in this order:

1. **A local folder** (``--model D:/models/instruct-pix2pix``): a diffusers folder (``model_index.json`` and one
   sub-folder per component). Air-gapped sites copy such a folder over from a connected PC.
2. **A hub id** (``timbrooks/instruct-pix2pix``) that is already on this PC: first in the project's models folder
   (``<workspace>/models/<owner>--<name>`` or ``<workspace>/models/<name>``; ``GENMIX_MODELS_DIR`` moves it),
   then in the Hugging Face cache (``huggingface_hub.snapshot_download(local_files_only=True)``).
3. **A hub id downloaded now**, when online, into the models folder, with a progress callback. With
   ``HF_HUB_OFFLINE=1`` (or no network) a missing model raises ``err.editor.model.offline_missing``, whose text is
   the exact recipe: the ``hf download`` command for a connected PC, where to copy the folder, what to select.

Every folder, whatever its origin, passes :func:`check_model_folder` before it is loaded: **weights are read
from safetensors only** (``use_safetensors=True``). Pickle weights (``.bin``, ``.ckpt``, ``.pt``) can run arbitrary
code when loaded, so a folder that has only those is refused with the conversion recipe. Downloads never fetch
pickle files. Nothing is ever written under a user-given name: downloads land in the models folder under a name
built from a validated hub id. A folder in the models folder may be a symbolic link the administrator made (to
another disk); the user-typed id still cannot name anything outside the models folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable

from genmix_core.editing.weights import check_weights, safetensor_error
from genmix_core.errors import ModelUnavailableError, UserError
from genmix_core.i18n import Term

log = logging.getLogger(__name__)
from genmix_core.paths import safe_join, safe_name, workspace_root

#: ``progress(done, total, what)``: ``done``/``total`` in the bar's unit (bytes or files); ``total`` may be None.
ProgressFn = Callable[[float, "float | None", str], None]

PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle")
#: Components that carry weights. Tokenizers, schedulers and feature extractors are plain JSON/text.
WEIGHT_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "transformer", "image_encoder", "controlnet")
#: Never loaded: the editors run without the NSFW safety checker (as the GenMix code does; a false positive
#: silently returns a black image, which would poison a factory data set).
SKIPPED_COMPONENTS = ("safety_checker",)
#: What a download fetches: configs, tokenizer files and component safetensors; not root single-file checkpoints
#: (multi-GB duplicates), not fp16/EMA variants, never pickle files.
DOWNLOAD_ALLOW = ["*.json", "*/*.txt", "*/*.safetensors", "*/*.model"]
DOWNLOAD_IGNORE = ["safety_checker/*", "*.fp16.safetensors", "*.non_ema.safetensors", "*.ema.safetensors"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")


def models_dir() -> Path:
    """The folder where downloaded or copied-over models live (``GENMIX_MODELS_DIR`` or ``<workspace>/models``)."""
    env = os.environ.get("GENMIX_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else workspace_root() / "models"


def is_offline() -> bool:
    """True when hub access is switched off (``HF_HUB_OFFLINE``), read at call time, not only at import."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return True
    return bool(constants.HF_HUB_OFFLINE)


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` with the characters the hub allows, no ``..``: never a path to somewhere else."""
    return bool(_HUB_ID.match(name)) and ".." not in name


def local_folder_name(repo_id: str) -> str:
    """Folder name for a hub model inside :func:`models_dir` (``owner--name``)."""
    return safe_name(repo_id.replace("/", "--"))


def download_command(repo_id: str) -> str:
    """The command to run on a connected PC to fetch ``repo_id`` as safetensors (``hf`` >= 0.34 of huggingface_hub;
    older installs spell it ``huggingface-cli download`` with the same arguments)."""
    return (f'hf download {repo_id} --local-dir {local_folder_name(repo_id)} '
            f'--include "*.json" "*/*.txt" "*/*.safetensors" "*/*.model" --exclude "safety_checker/*" "*.fp16.*"')


def _weight_files(folder: Path) -> tuple[list[Path], list[Path]]:
    files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    return ([p for p in files if p.suffix == ".safetensors"],
            [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES])


def check_model_folder(folder: str | os.PathLike) -> dict[str, Any]:
    """Prove that ``folder`` is a diffusers model folder whose weights are all safetensors.

    Returns:
        ``{"path": Path, "class_name": str, "variant": str | None, "components": [...]}``; ``variant`` is
        ``"fp16"`` when only ``*.fp16.safetensors`` files exist (loaded with ``variant="fp16"``).
    Raises:
        UserError: ``err.editor.model.folder_missing`` (no such folder), ``err.editor.model.not_diffusers``
            (no ``model_index.json``), ``err.editor.model.pickle_only`` (a component has only pickle weights),
            ``err.editor.model.weights_missing`` (a component has no weights at all),
            ``err.editor.model.weights_truncated`` / ``weights_damaged`` (a weights file is cut short or broken,
            checked from its header: :mod:`genmix_core.editing.weights`).
    """
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UserError("err.editor.model.folder_missing", path=str(path))
    path = path.resolve()
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise UserError("err.editor.model.not_diffusers", path=str(path))
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError("err.editor.model.not_diffusers", path=str(path)) from exc
    components = [k for k, v in index.items()
                  if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[0] is not None]
    variants = set()
    for comp in components:
        if comp in SKIPPED_COMPONENTS:
            continue
        safe, pickled = _weight_files(path / comp)
        if not safe and pickled:
            raise UserError("err.editor.model.pickle_only", path=str(path), component=comp,
                            files=", ".join(sorted(p.name for p in pickled)))
        if not safe and comp in WEIGHT_COMPONENTS:
            raise UserError("err.editor.model.weights_missing", path=str(path), component=comp)
        for weights in sorted(safe):
            check_weights(weights, model=str(path), component=comp)
        if safe:
            variants.add("fp16" if all(".fp16." in p.name for p in safe) else None)
    variant = "fp16" if variants == {"fp16"} else None
    return {"path": path, "class_name": str(index.get("_class_name", "")), "variant": variant,
            "components": components}


def find_local_model(repo_id: str) -> Path | None:
    """A copy of hub model ``repo_id`` already on this PC (models folder, then the hub cache), or None."""
    root = models_dir()
    for name in (local_folder_name(repo_id), safe_name(repo_id.split("/")[-1])):
        # The name is built from a checked hub id, so it cannot climb out; the folder it names may be a link
        # the administrator made to another disk (follow_links=False allows that, and only that).
        candidate = safe_join(root, name, follow_links=False) if root.is_dir() else None
        if candidate is not None and (candidate / "model_index.json").is_file():
            return candidate
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        cached = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return cached if (cached / "model_index.json").is_file() else None


def _tqdm_with_callback(progress: ProgressFn):
    """A tqdm class for ``snapshot_download`` that still draws its bar and also reports to ``progress``."""
    from tqdm.auto import tqdm

    class _CallbackTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # A disabled bar (HF_HUB_DISABLE_PROGRESS_BARS) keeps no state, so keep ours.
            self._done = float(kwargs.get("initial", 0) or 0)
            self._total = kwargs.get("total")
            self._what = str(kwargs.get("desc") or "")

        def update(self, n=1):
            self._done += float(n or 0)
            total = getattr(self, "total", None) or self._total
            progress(self._done, float(total) if total else None, str(getattr(self, "desc", "") or self._what))
            return super().update(n)

    return _CallbackTqdm


def download_model(repo_id: str, progress: ProgressFn | None = None) -> Path:
    """Download hub model ``repo_id`` (safetensors and configs only) into the models folder; resumable.

    Raises:
        UserError: ``err.editor.model.offline_missing`` when the hub cannot be reached.
    """
    from huggingface_hub import snapshot_download

    target = safe_join(models_dir(), local_folder_name(repo_id), follow_links=False)
    kwargs: dict[str, Any] = {}
    if progress is not None:
        kwargs["tqdm_class"] = _tqdm_with_callback(progress)
    try:
        snapshot_download(repo_id, local_dir=target, allow_patterns=DOWNLOAD_ALLOW,
                          ignore_patterns=DOWNLOAD_IGNORE, **kwargs)
    except Exception as exc:  # network, auth, unknown repo: all end in the same recipe for the user
        log.warning("download of %s failed: %s: %s", repo_id, type(exc).__name__, exc)  # details for the log
        raise offline_missing_error(repo_id, reason=Term("editor.why.no_connection")) from exc
    return target


def offline_missing_error(repo_id: str, reason: str | None = None) -> ModelUnavailableError:
    """The error that tells how to bring ``repo_id`` to an offline PC."""
    reason = reason or Term("editor.why.offline" if is_offline() else "editor.why.not_here")
    return ModelUnavailableError("err.editor.model.offline_missing", model=repo_id, reason=reason,
                     command=download_command(repo_id), folder=local_folder_name(repo_id),
                     models_dir=str(models_dir()), target=str(models_dir() / local_folder_name(repo_id)))


def resolve_model(model: str | os.PathLike, progress: ProgressFn | None = None,
                  allow_download: bool = True) -> tuple[Path, str]:
    """Turn a user's model name into a checked local folder.

    Args:
        model: a folder path or a hub id (see the module docstring).
        progress: download progress callback (see :data:`ProgressFn`).
        allow_download: False resolves only what is already on this PC (for availability checks).

    Returns:
        ``(folder, origin)`` with origin ``"folder"``, ``"local"`` (models folder / hub cache) or ``"download"``.
    Raises:
        UserError: ``err.editor.model.bad_name``, ``err.editor.model.offline_missing`` or one of
            :func:`check_model_folder`'s errors.
    """
    name = str(model).strip()
    if not name:
        raise UserError("err.editor.model.bad_name", model=name)
    path = Path(name).expanduser()
    if path.exists() or os.path.isabs(name) or name.startswith((".", "~")) or "\\" in name:
        check_model_folder(path)
        return path.resolve(), "folder"
    if not looks_like_hub_id(name):
        raise UserError("err.editor.model.bad_name", model=name)
    local = find_local_model(name)
    if local is not None:
        check_model_folder(local)
        return local, "local"
    if is_offline() or not allow_download:
        raise offline_missing_error(name)
    folder = download_model(name, progress)
    check_model_folder(folder)
    return folder, "download"


# --- device and precision ------------------------------------------------------------------------------------

PRECISIONS = ("auto", "float16", "bfloat16", "float32")


def choose_device(preferred: str | None = None) -> str:
    """``"cuda"`` if a CUDA GPU is usable, else ``"mps"`` (Apple), else ``"cpu"``; ``preferred`` wins if usable."""
    import torch

    usable = {"cpu": True, "cuda": torch.cuda.is_available(),
              "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if preferred and preferred != "auto":
        if not usable.get(preferred, False):
            raise UserError("err.editor.device.unavailable", device=preferred,
                            usable=", ".join(k for k, v in usable.items() if v))
        return preferred
    return "cuda" if usable["cuda"] else "mps" if usable["mps"] else "cpu"


def choose_dtype(device: str, precision: str = "auto"):
    """The torch dtype for ``device``.

    ``auto``: float16 on CUDA and MPS (half the memory, tensor cores), float32 on CPU (CPU half-precision
    kernels are slow or missing). ``bfloat16`` is honoured on CUDA GPUs that support it (Ampere and later) and
    falls back to float16 elsewhere; ``float32`` is always honoured. float16 on CPU is never chosen.
    """
    import torch

    if precision not in PRECISIONS:
        raise UserError("err.editor.device.bad_precision", precision=precision, choices=", ".join(PRECISIONS))
    if device == "cpu" or precision == "float32":
        return torch.float32
    if precision == "bfloat16" and device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def dtype_name(dtype) -> str:
    """``torch.float16`` -> ``"float16"`` (for EditorInfo and the manifest)."""
    return str(dtype).replace("torch.", "")


def describe_device() -> dict[str, Any]:
    """What this machine offers for diffusion editing, for the Home page and run records.

    Returns:
        ``{"device", "dtype", "cpu_cores", "torch", "diffusers", "gpu_name", "gpu_memory_gb", "bf16"}``
        (``gpu_*`` None without a GPU; ``diffusers`` None when not installed).
    """
    import importlib.metadata

    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        diffusers_version = importlib.metadata.version("diffusers")
    except importlib.metadata.PackageNotFoundError:
        diffusers_version = None
    device = choose_device()
    info: dict[str, Any] = {"device": device, "dtype": dtype_name(choose_dtype(device)), "cpu_cores": cores,
                            "torch": torch.__version__, "diffusers": diffusers_version, "gpu_name": None,
                            "gpu_memory_gb": None, "bf16": False}
    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        info.update(gpu_name=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    bf16=bool(torch.cuda.is_bf16_supported()))
    elif device == "mps":
        info.update(gpu_name="Apple GPU (MPS)")
    return info


def load_pipeline(pipeline_cls, folder: str | os.PathLike, device: str, dtype):
    """Load a checked diffusers folder with ``pipeline_cls.from_pretrained`` onto ``device`` in ``dtype``.

    Always ``use_safetensors=True`` and ``local_files_only=True`` (the folder is already here), never the safety
    checker. Call :func:`resolve_model` first: it runs the checks and fetches the folder.
    """
    checked = check_model_folder(folder)
    kwargs: dict[str, Any] = {"torch_dtype": dtype, "use_safetensors": True, "local_files_only": True}
    if checked["variant"]:
        kwargs["variant"] = checked["variant"]
    if "safety_checker" in checked["components"]:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        with warnings.catch_warnings():
            # diffusers >= 0.36 renames torch_dtype to dtype; the old name keeps older installs working.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = pipeline_cls.from_pretrained(str(checked["path"]), **kwargs)
    except (OSError, ValueError, safetensor_error()) as exc:
        # transformers lets safetensors' own error (a bare Exception) escape where diffusers wraps it in OSError.
        log.warning("loading %s failed: %s: %s", checked["path"], type(exc).__name__, exc)
        raise UserError("err.editor.model.load_failed", path=str(checked["path"]),
                        reason=Term("editor.why.load_failed")) from exc
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe
