"""Every setting of a recipe search, written once (:mod:`genmix_core.jobconfig` derives the command line,
``config.json`` and the Search page's launch from these fields).

The search trains with the Train & Compare machinery, so the model, budget and generation settings mean what
they mean there; :meth:`SearchConfig.compare_config` hands them over as a
:class:`~genmix_core.train.CompareConfig` (its split, its generation step per seed, its learning rate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from genmix_core.errors import UserError
from genmix_core.jobconfig import JobSpec, read_config, setting
from genmix_core.mixing import MASK_SETS
from genmix_core.mixing.masks import check_fraction
from genmix_core.seeds import content_key
from genmix_core.train import BACKBONES, CONDITIONS, FINETUNE_MODES, CompareConfig

DEFAULT_CONDITIONS = ("baseline", "mixup", "cutmix", "edits", "genmix")
DEFAULT_LAMS = (0.0, 0.05, 0.1, 0.2)


@dataclass
class SearchConfig:
    """Every setting of a search (stored in ``config.json`` and ``search.json``; enough to replay it)."""

    job: ClassVar[JobSpec] = JobSpec(kind="search", module="genmix_core.search", not_a_run_key="err.search.not_a_run")

    data: str = setting(help="training folder of class folders (<data>/<class>/*.png)")
    out: str = setting(help="run folder (search.json, runs/, job.json)")
    test: str | None = setting(None, help="labelled on-site photos (class folders): split once into a selection part "
                                          "(recipes are compared on it) and a report part (used once, for the chosen "
                                          "recipe and the baseline)")
    seeds: list[int] = setting(default_factory=lambda: [0, 1, 2], metavar="S,...",
                               help="run seeds: the first rung trains every recipe on the first seed, promising "
                                    "recipes get the others (default 0,1,2)")
    conditions: list[str] = setting(default_factory=lambda: list(DEFAULT_CONDITIONS), metavar="C,...",
                                    help="training conditions of the grid (default "
                                         + ",".join(DEFAULT_CONDITIONS) + ")")
    lams: list[float] = setting(default_factory=lambda: list(DEFAULT_LAMS), metavar="L,...",
                                help="fractal weights λ of the GenMix recipes (default 0,0.05,0.1,0.2)")
    lam_spread: float = setting(0.5, help="each λ > 0 is re-drawn per mix from λ·(1 ± spread) (default 0.5: λ 0.2 is "
                                          "the authors' 0.1–0.3); 0 fixes λ")
    mask_sets: list[str] = setting(default_factory=lambda: list(MASK_SETS), metavar="M,...",
                                   help="mask sets of the GenMix recipes (default genmix,diffusemix)")
    prompt_search: bool = setting(True, help="leave out each prompt in turn from the best recipe that trains on edits, "
                                             "then try the subset of prompts that helped")
    epochs: int = setting(10, help="base budget: this many passes over the training originals, as optimizer steps "
                                   "shared by every recipe (default 10)")
    steps_scale: list[int] = setting(default_factory=lambda: [1, 4], metavar="S,...",
                                     help="budgets as multiples of the base: every recipe runs at the first, the "
                                          "finalists and the baseline at each other one (default 1,4)")
    eta: int = setting(4, help="successive halving: the best 1/ETA of the first rung get every seed (default 4)")
    finalists: int = setting(1, help="recipes besides the baseline trained at the larger budgets (default 1: the "
                                     "best of the second rung)")
    selection_fraction: float = setting(0.5, help="share of the on-site photos (per class) in the selection part; "
                                                  "the rest is the report part (default 0.5)")
    min_per_class: int = setting(4, help="fewer on-site photos than this in a class: select on a held-out part of "
                                         "the training photos instead (weaker evidence; default 4)")
    val_fraction: float = setting(0.2, help="training originals per class held out for selection when the on-site "
                                            "photos are too few (default 0.2)")
    split_from: str | None = setting(None, help="take the on-site split from this earlier search (its folder or "
                                                "search.json; photos matched by content): with the same settings, a "
                                                "replay of that search")
    batch_size: int = setting(32, help="samples per optimizer step (default 32)")
    backbone: str = setting("efficientnet_lite0", choices=BACKBONES, help="classifier")
    finetune: str = setting("head", choices=FINETUNE_MODES, help="head: train the last layer only; all: every layer")
    size: int = setting(112, help="training resolution in pixels (default 112)")
    lr: float | None = setting(None, help="learning rate (default: as Train & Compare)")
    test_fraction: float = setting(0.2, help="training originals per class held out of training, as Train & Compare "
                                             "does (default 0.2)")
    split_seed: int = setting(0, help="base seed of the splits (default 0)")
    edits: str | None = setting(None, help="an existing generation run folder to take the edits from")
    editor: str = setting("offline", help="editor of the generation step (default offline: style filter, no AI model)")
    model: str | None = setting(None, help="diffusion model (hub id or folder) for a diffusion editor")
    prompts: list[str] = setting(default_factory=list, lines_file=True,
                                 help="edit prompts, comma-separated or one per line")
    prompt_set: str | None = setting(None, help="curated or user prompt set (default 'factory' when no --prompts)")
    filters: dict[str, str] | None = setting(None, cli=False,
                                             help="style-filter style per prompt text (the app's prompt table)")
    gen_seed: int = setting(0, help="base seed of the generation (default 0)")
    no_filter: bool = setting(False, help="generation step without its quality filter (on by default, as in "
                                          "Train & Compare): every finished edit is trained on")
    cache: str | None = setting(None, free=True, help="edit cache folder shared with other runs (default: the "
                                                      "search's own generation folder)")
    device: str = setting("auto", free=True, help="auto (CUDA if present), cpu, cuda, cuda:1 ...")

    def validated(self) -> "SearchConfig":
        """A checked copy with absolute paths. Raises ``UserError`` (``err.search.*``, ``err.train.*``)."""
        cfg = SearchConfig(**asdict(self))
        for name in ("data", "out", "test", "edits", "split_from", "cache"):
            if getattr(cfg, name):
                setattr(cfg, name, str(Path(getattr(cfg, name)).expanduser().resolve()))
        for name in ("data", "test", "edits"):
            if getattr(cfg, name) and not Path(getattr(cfg, name)).is_dir():
                raise UserError("err.train.no_folder", name=name, path=getattr(cfg, name))
        bad = [c for c in cfg.conditions if c not in CONDITIONS]
        if bad or not cfg.conditions:
            raise UserError("err.train.bad_condition", value=",".join(bad) or "(none)", choices=", ".join(CONDITIONS))
        cfg.conditions = list(dict.fromkeys(["baseline", *cfg.conditions]))   # the reference is always searched
        try:
            cfg.seeds = list(dict.fromkeys(int(s) for s in cfg.seeds))
            cfg.steps_scale = sorted({int(s) for s in cfg.steps_scale})
            cfg.lams = sorted({round(float(v), 6) for v in cfg.lams})
        except (TypeError, ValueError):
            raise UserError("err.search.bad_list", seeds=cfg.seeds, scales=cfg.steps_scale, lams=cfg.lams) from None
        if not cfg.seeds:
            raise UserError("err.train.not_positive", name="seeds", value="(none)")
        if not cfg.steps_scale or cfg.steps_scale[0] < 1:
            raise UserError("err.train.not_positive", name="steps-scale", value=cfg.steps_scale)
        if not cfg.lams:
            raise UserError("err.search.no_lams")
        for v in cfg.lams:
            check_fraction("lam", v)
        if not 0.0 <= float(cfg.lam_spread) < 1.0:
            raise UserError("err.search.bad_spread", value=cfg.lam_spread)
        if max(cfg.lams) * (1 + float(cfg.lam_spread)) > 1.0:
            raise UserError("err.search.bad_spread", value=cfg.lam_spread)
        bad = [m for m in cfg.mask_sets if m not in MASK_SETS]
        if bad or not cfg.mask_sets:
            raise UserError("err.search.bad_mask_set", value=",".join(bad) or "(none)", choices=", ".join(MASK_SETS))
        cfg.mask_sets = list(dict.fromkeys(cfg.mask_sets))
        for name in ("epochs", "eta", "batch_size", "min_per_class"):
            if int(getattr(cfg, name)) < 1:
                raise UserError("err.train.not_positive", name=name.replace("_", "-"), value=getattr(cfg, name))
        if int(cfg.eta) < 2:
            raise UserError("err.search.bad_eta", value=cfg.eta)
        if int(cfg.finalists) < 0:
            raise UserError("err.train.not_positive", name="finalists", value=cfg.finalists)
        for name in ("selection_fraction", "val_fraction", "test_fraction"):
            if not 0.0 < float(getattr(cfg, name)) < 1.0:
                raise UserError("err.train.bad_fraction", name=name.replace("_", "-"), value=getattr(cfg, name))
        if cfg.split_from and not _search_file(cfg.split_from).is_file():
            raise UserError("err.search.no_split_from", path=cfg.split_from)
        cfg.compare_config().validated()     # model, size and generation settings: Train & Compare's checks
        return cfg

    def compare_config(self, conditions: list[str] | None = None) -> CompareConfig:
        """The Train & Compare settings the search trains with (its split, generation per seed, learning rate).

        The on-site photos are not handed over: the search loads its own parts of them (:mod:`.split`).
        """
        return CompareConfig(
            data=self.data, out=self.out, conditions=list(conditions or self.conditions), seeds=list(self.seeds),
            epochs=int(self.epochs), batch_size=int(self.batch_size), backbone=self.backbone, finetune=self.finetune,
            size=int(self.size), lr=self.lr, test_fraction=float(self.test_fraction), split_seed=int(self.split_seed),
            edits=self.edits, editor=self.editor, model=self.model, prompts=list(self.prompts),
            prompt_set=self.prompt_set, filters=self.filters, gen_seed=int(self.gen_seed), no_filter=bool(self.no_filter),
            device=self.device)

    def fingerprint(self) -> str:
        """Key of the settings every run's result depends on (not the grid, the seeds or the schedule: those
        only choose which runs exist; each run's own recipe and seed are part of its key)."""
        keep = {k: v for k, v in asdict(self).items()
                if k in ("data", "epochs", "batch_size", "backbone", "finetune", "size", "lr", "test_fraction",
                         "split_seed", "edits", "editor", "model", "prompts", "prompt_set", "gen_seed", "val_fraction")}
        if self.filters:
            keep["filters"] = self.filters
        if self.no_filter:
            keep["no_filter"] = True
        return content_key(keep)


def _search_file(path: str | Path) -> Path:
    from genmix_core.search.results import SEARCH_FILE

    p = Path(path)
    return p / SEARCH_FILE if p.is_dir() else p


def load_config(run_dir: str | Path) -> SearchConfig:
    """The settings a search folder was started with (to resume it).

    Raises:
        UserError: ``err.search.not_a_run`` when the folder holds no search.
    """
    return read_config(run_dir, SearchConfig)
