"""Arguments of a generation run: validation, prompt resolution, ``config.json`` and the matching CLI args.

A run folder's ``config.json`` stores every argument; :func:`genmix_core.generate.resume.check_run_folder`
refuses a rerun with other output-affecting arguments and resumes one with the same.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Sequence

from genmix_core.errors import UserError
from genmix_core.jobconfig import JobSpec, free_fields, read_config, read_lines, setting
from genmix_core.mixing import FRACTAL_RENDER
from genmix_core.quality.backbones import DEFAULT_BACKBONE, check_backbone
from genmix_core.quality.rules import DEFAULT_FLOOR, DEFAULT_K, check_thresholds

CONFIG_VERSION = 1


def _editor_ids() -> tuple[str, ...]:
    from genmix_core.editing.registry import editor_ids

    return editor_ids()


def _mask_sets() -> tuple[str, ...]:
    from genmix_core.mixing import MASK_SETS

    return tuple(MASK_SETS)


def _read_include(path: str) -> list[str]:
    """The image paths listed in an ``--include`` file (blank lines and ``#`` comments skipped)."""
    return [ln for ln in read_lines(path) if not ln.startswith("#")]


@dataclass
class GenerateConfig:
    """All settings of a generation run, written once: the command line, ``<out>/config.json`` and the
    Generate page's launch are derived from these fields (:mod:`genmix_core.jobconfig`).

    ``include``, ``filters`` and switches that are off (``compile``, ``strict``) are left out of ``config.json``,
    so folders of runs made before those options still resume.
    """

    job: ClassVar[JobSpec] = JobSpec(kind="generate", module="genmix_core.generate",
                                     not_a_run_key="err.gen.not_a_run", version=CONFIG_VERSION)

    data: str = setting(help="folder of class folders: DATA/<class>/*.png")
    out: str = setting(help="run folder (images/, manifest.csv, config.json, job.json)", free=True)
    prompts: list[str] = setting(default_factory=list, lines_file=True,
                                 help='edit prompts, comma-separated ("snowy,sunset") or one per line; '
                                      'default: every prompt of --prompt-set')
    prompt_set: str | None = setting(None, help="curated prompt-set name or prompt-set YAML file: its prompts when "
                                                "--prompts is not given, and the style filter's 'filter:' hints")
    editor: str = setting("offline", choices=_editor_ids,
                          help="offline = style filter (no AI model); instruct-pix2pix / img2img = diffusion edit")
    model: str | None = setting(None, help="hub id or local folder of the diffusion model")
    steps: int | None = setting(None, help="diffusion steps (editor default if omitted)")
    size: int | None = setting(None, help="diffusion working size in pixels (editor default if omitted)")
    per_image: int | None = setting(None, help="prompts drawn per image (default: all prompts)")
    seed: int = setting(0, help="job seed; every per-item seed derives from it (default 0)")
    batch_size: int | None = setting(None, free=True,
                                     help="items per editor call, halved on out-of-memory (default: the editor's own: "
                                          "a diffusion editor on a GPU takes what its memory holds at the working "
                                          "size, e.g. 48 at 512 px on an 80+ GiB GPU; 4 otherwise)")
    mask_set: str = setting("genmix", choices=_mask_sets,
                            help="genmix (5 smooth masks) or diffusemix (2 half masks)")
    ramp: float | None = setting(None, help="mask transition width, fraction of the image side (0 = binary mask)")
    lam: float | None = setting(None, help="fractal blend weight lambda in [0, 1] (default 0.2, authors' code)")
    fractals: str | None = setting(None, help="folder of fractal images (default: procedural fractals)")
    fractal_render: str = setting(FRACTAL_RENDER, cli=False,
                                  help="how procedural fractals are rendered (set by the code, recorded so that a "
                                       "folder of GenMix images made by another rule is never resumed silently)")
    no_mixes: bool = setting(False, cli=False, free=True,
                             help="store edits only, no GenMix pictures (Train & Compare, when it mixes anew at "
                                  "training time and would never use them; each item's mix parameters are still "
                                  "recorded, and a later run without this switch mixes from the edit cache)")
    cache: str | None = setting(None, free=True, help="edit cache folder (default OUT/cache/edits)")
    workers: int | None = setting(None, free=True,
                                  help="threads for mixing and PNG writes beside the editor, and for editing with "
                                       "the style filter (default: auto from the CPU cores; 1 = serial). Outputs "
                                       "are the same for any value")
    include: list[str] | None = setting(None, parse=_read_include, metavar="FILE",
                                        help="only the images listed in FILE (paths relative to --data, one per "
                                             "line, e.g. ok/a.png); Train & Compare passes its training originals")
    filters: dict[str, str] | None = setting(None, cli=False,
                                             help="style-filter style per prompt text, chosen in the app's prompt "
                                                  "table; on top of the prompt set's filter: hints")
    compile: bool = setting(False, free=True,
                            help="compile the diffusion model's UNet (CUDA GPUs only; about 40 s per photo shape "
                                 "once per machine, kept on disk, loaded by later runs in 1-2 s; then each edit "
                                 "about a quarter faster)")
    # The quality filter (genmix_core.quality). Free: it changes no image, and it is applied again at the end of
    # every run from cached features, so a rerun with other thresholds (or another backbone) re-filters the
    # finished run without editing anything; config.json then holds the thresholds the verdicts came from.
    no_filter: bool = setting(False, free=True,
                              help="skip the quality filter (it is on by default): no similarity scores; every "
                                   "finished edit counts as accepted unless rejected in the review")
    filter_floor: float = setting(DEFAULT_FLOOR, free=True,
                                  help="quality filter: reject an edit whose feature similarity to its original is "
                                       "below this (cosine, -1..1). Default 0.35, measured for the default backbone "
                                       "(EfficientNet-Lite0, 112 px) on the 150 sample photos: it rejects every edit "
                                       "of an untrained diffusion model and every noise picture (highest 0.32) and "
                                       "keeps 85 %% of style-filter edits (bench/bench_quality.py study; "
                                       "bench/results/2026-11-29_cpu_quality_study_96_112.json). Another backbone "
                                       "needs its own floor (the GenMix authors used 0.7 with DINO ViT-B/16)")
    filter_k: float = setting(DEFAULT_K, free=True,
                              help="quality filter, GenMix per-class rule: reject an edit more than K standard "
                                   "deviations below the mean similarity between originals of its class "
                                   "(a large K such as 99 turns the rule off)")
    filter_backbone: str = setting(DEFAULT_BACKBONE, free=True,
                                   help="quality filter features: efficientnet_lite0 (built in, offline), or the hub "
                                        "id or local folder of a DINOv2 or CLIP model already on this PC "
                                        "(safetensors; never downloaded)")
    strict: bool = setting(False, free=True,
                           help="refuse the run when a file of --data cannot be used (default: skip such files and "
                                "list them with the reason in the run folder's skipped.csv)")

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
        if Path(cfg.filter_backbone).expanduser().is_dir():   # a local model folder: absolute, like --data
            cfg.filter_backbone = str(Path(cfg.filter_backbone).expanduser().resolve())
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
        cfg.filter_floor, cfg.filter_k = float(cfg.filter_floor), float(cfg.filter_k)
        check_thresholds(cfg.filter_floor, cfg.filter_k)
        if not cfg.no_filter:   # a missing feature model fails here, with the fix, before anything is edited
            check_backbone(cfg.filter_backbone)
        if cfg.filters:
            cfg.filters = _check_styles(cfg.filters, cfg.prompts)
        if cfg.include is not None:
            # Sorted, "/"-separated and without duplicates: the same set of images is the same config.
            cfg.include = sorted({_rel_key(p) for p in cfg.include} - {""})
        return cfg

    def stored_args(self) -> dict:
        """The arguments as stored in ``config.json``: ``include`` only when set, switches only when on (older
        runs lack the keys)."""
        args = asdict(self)
        for name in ("include", "filters"):
            if args.get(name) is None:
                args.pop(name, None)
        for name in [k for k, v in args.items() if v is False]:
            args.pop(name)
        return args

    def check_drawable(self, for_app: bool = False) -> None:
        """Refuse, before anything is created, prompts the chosen editor cannot draw (call on a resolved copy).

        Raises:
            UserError: naming the prompts and the styles they can use: ``err.gen.cannot_draw`` with the style
                ids a prompt-set file takes (CLI), or ``err.editor.cannot_draw`` with the styles' names in the
                user's language and the fix on the pages (``for_app``).
        """
        from genmix_core.editing import quoted, style_ids, style_key, undrawable
        from genmix_core.i18n import Term

        bad = undrawable(self.editor, self.prompts, self.style_choices())
        if bad and for_app:
            raise UserError("err.editor.cannot_draw", prompts=quoted(bad),
                            styles=tuple(Term(style_key(s)) for s in style_ids()))
        if bad:
            raise UserError("err.gen.cannot_draw", editor=self.editor, prompts=quoted(bad),
                            styles=", ".join(style_ids()))

    def style_choices(self) -> dict[str, str]:
        """Prompt text → style for the chosen prompts: the prompt set's ``filter:`` hints, then ``filters``."""
        chosen = set(self.prompts)
        hints = {p.text: p.filter for p in load_prompt_set(self.prompt_set).prompts
                 if p.text in chosen and p.filter} if self.prompt_set else {}
        hints.update({k: v for k, v in (self.filters or {}).items() if k in chosen and v})
        return hints

    @property
    def cache_dir(self) -> Path:
        return Path(self.cache) if self.cache else Path(self.out) / "cache" / "edits"


def _rel_key(path: str) -> str:
    """An image path relative to the data folder in one spelling: ``"/"``-separated, no leading ``./``."""
    text = str(path).strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def _check_styles(filters: dict, prompts: Sequence[str]) -> dict[str, str]:
    """``filters`` limited to the chosen prompts, every style checked (a typo fails here, not in the job)."""
    from genmix_core.editing import style_ids

    known = style_ids()
    out = {}
    for text, style in sorted(filters.items()):
        if text in prompts and style:
            if style not in known:
                raise UserError("err.gen.bad_style", style=style, prompt=text, styles=", ".join(known))
            out[str(text)] = str(style)
    return out or None


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


def load_config(out_dir: str | os.PathLike) -> GenerateConfig:
    """The arguments a run was started with (from its ``config.json``), e.g. to resume it.

    Raises:
        UserError: ``err.gen.not_a_run`` when the folder holds no generation run.
    """
    return read_config(out_dir, GenerateConfig)


# Arguments that do not change any output: a rerun may change them and still resume.
FREE_ARGS = free_fields(GenerateConfig)
