"""Arguments of a generation run: validation, prompt resolution, ``config.json`` and the matching CLI args.

A run folder's ``config.json`` stores every argument; :func:`genmix_core.generate.check_run_folder` refuses a
rerun with other output-affecting arguments and resumes one with the same.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from genmix_core import manifest
from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_bytes, read_json

CONFIG_VERSION = 1
# Arguments that do not change any output: a rerun may change them and still resume.
FREE_ARGS = ("out", "batch_size", "cache", "workers", "compile")


@dataclass
class GenerateConfig:
    """All arguments of a generation run (stored in ``<out>/config.json``).

    Attributes:
        data: folder of class folders (``<data>/<class>/*.png``).
        out: run folder (created).
        prompts: edit prompts, in order (empty: every prompt of ``prompt_set``).
        editor: ``"offline"``, ``"instruct-pix2pix"`` or ``"img2img"``.
        model: hub id or local folder of a diffusion model (diffusion editors only).
        steps, size: diffusion steps and working size in pixels (None: the editor's default).
        per_image: prompts drawn per image (None: all prompts).
        seed: job seed; every per-item seed derives from it.
        batch_size: items per editor call (halved on out-of-memory).
        mask_set: ``"genmix"`` (5 smooth masks) or ``"diffusemix"`` (2 half masks).
        ramp: mask transition width as a fraction of the image side (0 = binary mask), None = default.
        lam: fractal blend weight λ in [0, 1], None = default (0.2, authors' code).
        fractals: folder of fractal images (None: procedural fractals).
        prompt_set: curated prompt-set name or a prompt-set YAML file: supplies the prompts when ``prompts``
            is empty, and the offline style filter's ``filter:`` hints in any case.
        cache: edit cache folder (None: ``<out>/cache/edits``).
        workers: threads for mixing/writing (and, with CPU editors, editing) beside the editor; None: auto
            from the cores, 1: serial. Outputs are the same for any value.
        compile: ``torch.compile`` the diffusion UNet (CUDA only; about a minute once, then each edit about a
            quarter faster, so it pays from a few hundred edits). Same edits within fp16 rounding.
        include: only these images, as paths relative to ``data`` (``"ok/a.png"``); None: every image.
            Train & Compare passes its training originals, so held-out images are never edited. Left out of
            ``config.json`` when None, so folders of runs made before this option still resume.
    """

    data: str
    out: str
    prompts: list[str] = field(default_factory=list)
    editor: str = "offline"
    model: str | None = None
    steps: int | None = None
    size: int | None = None
    per_image: int | None = None
    seed: int = 0
    batch_size: int = 4
    mask_set: str = "genmix"
    ramp: float | None = None
    lam: float | None = None
    fractals: str | None = None
    prompt_set: str | None = None
    cache: str | None = None
    workers: int | None = None
    include: list[str] | None = None
    compile: bool = False

    def resolved(self) -> "GenerateConfig":
        """A validated copy with absolute paths, the prompt set expanded and mixing defaults filled in.

        Raises:
            UserError: ``err.gen.*`` naming the bad argument and its value.
        """
        from genmix_core import mixing

        cfg = GenerateConfig(**asdict(self))
        for name in ("data", "out", "fractals", "cache"):
            value = getattr(cfg, name)
            if value:
                setattr(cfg, name, str(Path(value).expanduser().resolve()))
        if not Path(cfg.data).is_dir():
            raise UserError("err.gen.no_data", path=cfg.data)
        if cfg.fractals and not Path(cfg.fractals).is_dir():
            raise UserError("err.gen.no_fractals", path=cfg.fractals)
        cfg.prompts = _resolve_prompts(cfg.prompt_set, cfg.prompts)
        for name in ("steps", "size", "per_image", "batch_size", "workers"):
            value = getattr(cfg, name)
            if value is not None and int(value) < 1:
                raise UserError("err.gen.not_positive", name=name.replace("_", "-"), value=value)
        if cfg.per_image is not None and cfg.per_image > len(cfg.prompts):
            raise UserError("err.gen.per_image_too_many", k=cfg.per_image, n=len(cfg.prompts))
        if cfg.mask_set not in mixing.MASK_SETS:
            raise UserError("err.gen.bad_mask_set", value=cfg.mask_set, choices=", ".join(mixing.MASK_SETS))
        cfg.ramp = float(mixing.DEFAULT_RAMP if cfg.ramp is None else cfg.ramp)
        cfg.lam = float(mixing.DEFAULT_LAM if cfg.lam is None else cfg.lam)
        if not 0.0 <= cfg.ramp <= 1.0:
            raise UserError("err.gen.bad_ramp", value=cfg.ramp)
        if not 0.0 <= cfg.lam <= 1.0:
            raise UserError("err.gen.bad_lam", value=cfg.lam)
        cfg.seed = int(cfg.seed)
        if cfg.include is not None:
            # Sorted, "/"-separated and without duplicates: the same set of images is the same config.
            cfg.include = sorted({_rel_key(p) for p in cfg.include} - {""})
        return cfg

    def config_args(self) -> dict:
        """The arguments as stored in ``config.json``: ``include`` and ``compile`` only when set (older runs
        lack the keys)."""
        args = asdict(self)
        if args.get("include") is None:
            args.pop("include", None)
        if not args.get("compile"):
            args.pop("compile", None)
        return args

    @property
    def cache_dir(self) -> Path:
        return Path(self.cache) if self.cache else Path(self.out) / "cache" / "edits"


def _rel_key(path: str) -> str:
    """An image path relative to the data folder in one spelling: ``"/"``-separated, no leading ``./``."""
    text = str(path).strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def load_prompt_set(prompt_set: str):
    """A prompt set by curated/user name, or from a YAML file path."""
    from genmix_core import prompts as prompt_mod

    path = Path(prompt_set).expanduser()
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        return prompt_mod.load_prompt_set(path)
    sets = {s.name: s for s in prompt_mod.list_prompt_sets(None)}
    if prompt_set not in sets:
        raise UserError("err.gen.unknown_prompt_set", name=prompt_set, choices=", ".join(sets))
    return sets[prompt_set]


def _resolve_prompts(prompt_set: str | None, prompts: Sequence[str]) -> list[str]:
    """``prompts`` when given, else every prompt of ``prompt_set``; stripped and checked for duplicates."""
    from genmix_core.prompts import validate_prompts

    texts = [p for p in prompts if p.strip()]
    if prompt_set:
        pset = load_prompt_set(prompt_set)
        texts = texts or [p.text for p in pset.prompts]
    if not texts:
        raise UserError("err.gen.no_prompts")
    return validate_prompts(texts, source=prompt_set or "--prompts")


def cli_args(cfg: GenerateConfig) -> list[str]:
    """The command-line arguments that run ``cfg`` (``python -m genmix_core.generate *cli_args(cfg)``)."""
    args: list[str] = []
    for name, value in asdict(cfg).items():
        if value is None or value == [] or value is False:
            continue
        if value is True:  # a switch (--compile)
            args.append(f"--{name.replace('_', '-')}")
            continue
        if name == "include":
            # The CLI reads a file of paths (one per line); keep it beside the run's config.json.
            listing = Path(cfg.out) / "include.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(listing, ("\n".join(value) + "\n").encode("utf-8"))
            value = str(listing)
        if name == "prompts":
            # One prompt per line: prompts may contain commas; the CLI splits on both.
            value = "\n".join(value)
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def load_config(out_dir: str | os.PathLike) -> GenerateConfig:
    """The arguments a run was started with (from its ``config.json``), e.g. to resume it.

    Raises:
        UserError: ``err.gen.not_a_run`` when the folder holds no generation run.
    """
    data = read_json(Path(out_dir) / manifest.CONFIG_FILE, default=None)
    if not isinstance(data, dict) or data.get("kind") != "generate" or not isinstance(data.get("args"), dict):
        raise UserError("err.gen.not_a_run", path=str(out_dir))
    known = GenerateConfig.__dataclass_fields__
    return GenerateConfig(**{k: v for k, v in data["args"].items() if k in known})
