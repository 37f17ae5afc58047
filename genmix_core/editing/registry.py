"""Which editors exist, which can run on this machine, how to create one, and how long an edit will take.

The UI lists :func:`editor_choices`; the batch job calls :func:`create_editor` and records
:func:`editor_record` in its manifest. Editor modules are imported lazily: listing the choices must not import
diffusers/torch model code (seconds on a 2-core PC).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Mapping

from genmix_core.editing.base import Editor
from genmix_core.errors import ModelUnavailableError, UserError

# --- time model -------------------------------------------------------------------------------------------------
# Work per edit in GFLOP, counted with torch's FlopCounterMode on the SD1.5 architectures at 512²
# (r = pixels / 512²):
# one UNet pass = 696·r + 107·r² (the r² part is self-attention at the 64×64 latent grid), VAE encode + decode
# = 1780·r. An edit costs passes × steps UNet passes (pix2pix: 3 passes per step with guidance; img2img: 2, or 1
# without guidance; img2img runs int(steps × strength) steps) plus the VAE.
# Throughput, calibrated on measurements (environment.md, performance.md):
#   CPU: full-size pix2pix, 2 cores, 256², 10 steps = 68 s -> (30 × 181 + 445) GFLOP / 68 s = 43 GFLOP/s per core,
#        assumed linear in cores (optimistic beyond ~8 cores, where memory bandwidth limits).
#   CUDA: plain batching on an H200 at 100 steps, 512² = 0.89 s -> 270 TFLOP/s. Smaller GPUs are slower in
#        proportion to their fp16 throughput; pass ``gpu_tflops`` when known.
#   MPS: a rough guess of 5 TFLOP/s effective (not measured here).
_UNET_LIN, _UNET_QUAD, _VAE = 696.0, 107.0, 1780.0
CPU_GFLOPS_PER_CORE = 43.0
GPU_TFLOPS = {"cuda": 270.0, "mps": 5.0}



@dataclass(frozen=True)
class EditorSpec:
    """One row of the editor table: everything the workbench needs to know about a backend.

    Attributes:
        id: editor id (CLI ``--editor``, ``config.json``, manifest).
        factory: ``"module:Class"`` of the backend, imported only when an editor is created (listing the
            choices must not import diffusers/torch model code).
        label_key: i18n key of its human name.
        is_diffusion: True only for real diffusion editors (the UI labels only these "AI edit").
        default_model: hub id used when the user names none (None: needs no model).
        default_steps: denoising steps of its default preset (0: not a diffusion editor).
        unet_passes: UNet passes per step with guidance (cost model; 0 for editors without a UNet).
        steps_times_strength: the editor runs ``int(steps × strength)`` steps (image-to-image).
        seconds_512: fixed seconds per 512² edit for editors outside the FLOP model (None: use the model).
        preview_settings: settings for the interactive Preview page (a faster preset), on top of the defaults.
    """

    id: str
    factory: str
    label_key: str
    is_diffusion: bool
    default_model: str | None = None
    default_steps: int = 0
    unet_passes: int = 0
    steps_times_strength: bool = False
    seconds_512: float | None = None
    preview_settings: Mapping[str, Any] = field(default_factory=dict)

    def editor_class(self) -> type[Editor]:
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)


#: The editor table: one row per backend. A new backend is one new row (and its own file).
EDITORS: dict[str, EditorSpec] = {spec.id: spec for spec in (
    EditorSpec("offline", "genmix_core.editing.offline:OfflineStyleEditor", "editor.offline.name", False,
               seconds_512=0.05),
    EditorSpec("instruct-pix2pix", "genmix_core.editing.pix2pix:InstructPix2PixEditor", "editor.pix2pix.name",
               True, default_model="timbrooks/instruct-pix2pix", default_steps=100, unet_passes=3,
               preview_settings={"preset": "fast"}),  # 20 steps: a preview in seconds on a GPU
    EditorSpec("img2img", "genmix_core.editing.img2img:Img2ImgEditor", "editor.img2img.name", True,
               default_model="stable-diffusion-v1-5/stable-diffusion-v1-5", default_steps=30, unet_passes=2,
               steps_times_strength=True),
)}


def register_editor(spec: EditorSpec) -> None:
    """Add (or replace) a row of the editor table, e.g. a site-specific backend or a test double."""
    EDITORS[spec.id] = spec


def editor_ids() -> tuple[str, ...]:
    """The ids of every registered editor, in table order (the first is the offline default)."""
    return tuple(EDITORS)


def editor_spec(editor_id: str) -> EditorSpec:
    """The table row of ``editor_id``.

    Raises:
        UserError: ``err.editor.unknown`` naming the id and the choices.
    """
    if editor_id not in EDITORS:
        raise UserError("err.editor.unknown", editor=editor_id, choices=", ".join(EDITORS))
    return EDITORS[editor_id]


@dataclass(frozen=True)
class EditorChoice:
    """One entry of the editor picker.

    Attributes:
        id: editor id (a row of :data:`EDITORS`). label_key: i18n key of its name.
        is_diffusion: True for real diffusion editors (the UI labels only these "AI edit").
        available: whether it can run here now. reason_key / reason_params: i18n key and parameters of a note
            (why it is unavailable, or that it will be slow on this CPU); None when there is nothing to say.
        needs_files: its model's files are not on this PC (it runs only after a download or a copy); then
            ``reason_params`` holds ``model``, ``command`` (the download command), ``folder`` and ``models_dir``.
    """

    id: str
    label_key: str
    is_diffusion: bool
    available: bool
    reason_key: str | None = None
    reason_params: dict[str, Any] = field(default_factory=dict)
    needs_files: bool = False


def estimate_seconds_per_edit(editor_id: str, device: str = "cpu", steps: int | None = None,
                              size: int | tuple[int, int] = 512, *, cores: int | None = None,
                              strength: float | None = None, guidance: bool = True,
                              gpu_tflops: float | None = None) -> float:
    """Seconds one edit takes, from the documented FLOP model above (before the user starts a job).

    Args:
        editor_id: a row of :data:`EDITORS`. device: ``"cpu"``, ``"cuda"``, ``"mps"``.
        steps: denoising steps (default: the editor's default preset). size: working long side (square assumed,
            the worst case) or ``(width, height)``. cores: CPU cores (default: this machine's).
        strength: img2img strength (steps actually run = int(steps × strength)); None: the default 0.5.
            guidance: classifier-free guidance on (pix2pix: 3 UNet passes per step, img2img: 2) or off (1 pass).
    """
    w, h = (size, size) if isinstance(size, int) else size
    r = (w * h) / 512**2
    spec = editor_spec(editor_id)
    if spec.seconds_512 is not None:
        return spec.seconds_512 * r
    steps = spec.default_steps if steps is None else steps
    passes = spec.unet_passes if guidance else 1
    strength = 0.5 if strength is None else strength
    run_steps = int(steps * strength) if spec.steps_times_strength else steps
    gflop = passes * run_steps * (_UNET_LIN * r + _UNET_QUAD * r * r) + _VAE * r
    if device == "cpu":
        if cores is None:
            from genmix_core.editing.loading import describe_device

            cores = describe_device()["cpu_cores"]
        return gflop / (CPU_GFLOPS_PER_CORE * max(1, cores))
    tflops = gpu_tflops or GPU_TFLOPS.get(device, GPU_TFLOPS["mps"])
    return gflop / (tflops * 1000.0)


def create_editor(editor_id: str, model: str | None = None, **settings: Any) -> Editor:
    """Create an editor from its table row: ``"offline"`` (style filters, no model), ``"instruct-pix2pix"``,
    ``"img2img"``, or any registered row.

    Diffusion editors resolve and check their model here (a missing or unsafe model fails now, with the fix);
    weights load on the first edit or ``editor.load()``.

    Raises:
        UserError: ``err.editor.unknown`` for an unknown id, ``err.editor.no_diffusers`` when diffusers is missing,
            or a model error from :mod:`genmix_core.editing.loading`.
    """
    spec = editor_spec(editor_id)
    if not spec.is_diffusion:
        return spec.editor_class()(**settings)
    if importlib.util.find_spec("diffusers") is None:
        raise UserError("err.editor.no_diffusers")
    return spec.editor_class()(model or spec.default_model, **settings)


def editor_choices(models: dict[str, str] | None = None) -> list[EditorChoice]:
    """Every editor with whether it runs here and why not (never downloads; fast enough for every page render).

    Args:
        models: optional ``{editor_id: model}`` the user picked (default models otherwise).
    """
    from genmix_core.editing import loading

    choices = []
    has_diffusers = importlib.util.find_spec("diffusers") is not None
    device = loading.choose_device() if has_diffusers else "cpu"
    for spec in EDITORS.values():
        if not spec.is_diffusion:
            choices.append(EditorChoice(spec.id, spec.label_key, False, True))
            continue
        if not has_diffusers:
            choices.append(EditorChoice(spec.id, spec.label_key, True, False, "editor.reason.no_diffusers"))
            continue
        model = (models or {}).get(spec.id) or spec.default_model
        try:
            loading.resolve_model(model, allow_download=False)
        except UserError as exc:
            if isinstance(exc, ModelUnavailableError):
                online = not loading.is_offline()
                params = {k: exc.params[k] for k in ("model", "command", "folder", "models_dir") if k in exc.params}
                choices.append(EditorChoice(spec.id, spec.label_key, True, online,
                                            "editor.reason.will_download" if online else exc.key,
                                            {**dict(exc.params), **params}, needs_files=True))
            else:
                choices.append(EditorChoice(spec.id, spec.label_key, True, False, exc.key, dict(exc.params)))
            continue
        if device == "cpu":
            seconds = estimate_seconds_per_edit(spec.id, "cpu", size=512)
            choices.append(EditorChoice(spec.id, spec.label_key, True, True, "editor.reason.slow_cpu",
                                        {"seconds": round(seconds), "model": model}))
        else:
            choices.append(EditorChoice(spec.id, spec.label_key, True, True, None, {"model": model}))
    return choices


def editor_record(editor: Editor) -> dict[str, Any]:
    """What a run manifest keeps about the editor: identity, device, output-changing settings, events."""
    info = editor.info
    return {"id": info.id, "is_diffusion": info.is_diffusion, "model": info.model, "device": info.device,
            "dtype": info.dtype, "settings": editor.settings(), "events": list(getattr(editor, "events", [])),
            "stats": dict(getattr(editor, "stats", {}))}
