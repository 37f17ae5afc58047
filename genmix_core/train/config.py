"""Every setting of a Train & Compare run, written once (:mod:`genmix_core.jobconfig` derives the command line,
``config.json`` and the Train page's launch from these fields).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from genmix_core.errors import UserError
from genmix_core.jobconfig import JobSpec, read_config, setting
from genmix_core.mixing import DEFAULT_LAM_RANGE, check_lam_range
from genmix_core.mixing.masks import check_fraction
from genmix_core.seeds import content_key
from genmix_core.train.evaluate import DEFAULT_EPS, DEFAULT_PGD_STEPS, DEFAULT_RESTARTS, parse_eps
from genmix_core.train.conditions import CONDITIONS
from genmix_core.train.models import BACKBONES, FINETUNE_MODES

DEFAULT_LR = {"head": 3e-3, "all": 5e-4, "small_cnn": 3e-3}
PROTOCOLS = ("steps", "epochs")
"""Budget families: ``steps`` = the same optimizer steps for every condition (the fair comparison);
``epochs`` = the authors' protocol, the same epochs over each condition's own pool (originals + GenMix images),
so a larger pool trains for more steps. Reported as separate arms (``genmix@epochs``)."""


@dataclass
class CompareConfig:
    """Every setting of a comparison (stored in ``config.json`` and ``results.json``; a change of one that
    affects results invalidates finished runs, see :meth:`fingerprint`)."""

    job: ClassVar[JobSpec] = JobSpec(kind="train", module="genmix_core.train", not_a_run_key="err.train.not_results")

    data: str = setting(help="training folder of class folders (<data>/<class>/*.png)")
    out: str = setting(help="run folder (results.json, runs/, job.json)")
    test: str | None = setting(None, help="second test domain (class folders), e.g. shop-floor photos")
    conditions: list[str] = setting(default_factory=lambda: ["baseline", "genmix"],
                                    help=f"comma-separated, from {','.join(CONDITIONS)} (default: baseline,genmix)")
    seeds: list[int] = setting(default_factory=lambda: [0], help="comma-separated seeds (default 0)")
    epochs: int = setting(5, help="passes over the ORIGINAL training images; sets the shared budget of optimizer "
                                  "steps (default 5)")
    steps_scale: list[int] = setting(default_factory=lambda: [1], metavar="S,...",
                                     help="budget sweep: train every condition at S times the base budget for each "
                                          "S, e.g. 1,4,16 (matched across conditions at each S; default 1)")
    protocols: list[str] = setting(default_factory=lambda: ["steps"], metavar="P,...",
                                   help="steps: matched optimizer steps (default); add epochs for the authors' "
                                        "protocol as a separate family of arms (--epochs over each condition's "
                                        "own pool, so GenMix gets more steps)")
    early_stop: int = setting(0, help="stop a run when the accuracy on a validation split of the training domain "
                                      "has not improved for this many evaluations (one per pass over the "
                                      "training originals; the best weights are kept); 0 = off (default)")
    val_fraction: float = setting(0.2, help="training originals per class held out as that validation split "
                                            "(only with --early-stop; default 0.2)")
    cross_val_fraction: float = setting(0.0, help="share of --test kept apart as a validation part (for choosing "
                                                  "settings; never in the test numbers), per class, drawn per "
                                                  "seed (default 0: all of --test is the test part)")
    batch_size: int = setting(32, help="samples per optimizer step (default 32)")
    backbone: str = setting("efficientnet_lite0", choices=BACKBONES, help="classifier")
    finetune: str = setting("head", choices=FINETUNE_MODES,
                            help="head: train the last layer only (fast on a CPU); all: every layer")
    size: int = setting(112, help="training resolution in pixels (default 112)")
    lr: float | None = setting(None, help="learning rate (default: 3e-3 head/small_cnn, 5e-4 all)")
    eps: list[str] = setting(default_factory=lambda: list(DEFAULT_EPS),
                             help="attack budgets in [0,1] pixel units, e.g. 1/255,2/255,4/255")
    pgd_steps: int = setting(DEFAULT_PGD_STEPS, help=f"PGD iterations per attack (default {DEFAULT_PGD_STEPS})")
    pgd_restarts: int = setting(DEFAULT_RESTARTS, help="PGD random starts per image; robust only if none fools it "
                                                       f"(default {DEFAULT_RESTARTS})")
    test_fraction: float = setting(0.2, help="held-out originals per class (default 0.2)")
    split_seed: int = setting(0, help="base seed of the splits: each run seed draws its own held-out split from it "
                                      "(default 0)")
    edits: str | None = setting(None, help="an existing generation run folder to take edits/GenMix images from")
    editor: str = setting("offline", help="editor for the generation step (default offline)")
    model: str | None = setting(None, help="diffusion model (hub id or folder) for a diffusion editor")
    prompts: list[str] = setting(default_factory=list, lines_file=True,
                                 help="edit prompts for the generation step, comma-separated or one per line")
    prompt_set: str | None = setting(None, help="curated or user prompt set (default 'factory' when no --prompts)")
    filters: dict[str, str] | None = setting(None, cli=False,
                                             help="style-filter style per prompt text (the app's prompt table)")
    gen_seed: int = setting(0, help="base seed of the generation: each run seed makes its own generation run "
                                    "(edits and mixes) from it, unless --edits is given (default 0)")
    no_filter: bool = setting(False, help="generation step without its quality filter (on by default): every "
                                          "finished edit is trained on, e.g. to measure what the filter brings")
    redraw: bool = setting(True, help="train on the stored GenMix images instead of re-drawing the mix every pass")
    mask_set: str = setting("genmix", help="genmix (5 smooth masks) or diffusemix (2 half masks)")
    lam: float | None = setting(None, help="fractal blend weight λ, fixed for every mix (default: drawn per mix "
                                           "from --lam-range)")
    lam_range: list[float] | None = setting(None, metavar="LOW,HIGH",
                                            help="range λ is drawn from for each re-drawn mix (default 0.1,0.3: the "
                                                 "authors' 0.2 on average)")
    device: str = setting("auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    few_shot: list[int] = setting(default_factory=list, metavar="K,...",
                                  help="also train every condition and seed on k originals per class for each k, "
                                       "e.g. 1,2,5,10 (same held-out test set; budget: --epochs over the k x "
                                       "classes originals)")

    def validated(self) -> "CompareConfig":
        """A checked copy with absolute paths. Raises ``UserError`` (``err.train.*``) naming the bad value."""
        cfg = CompareConfig(**asdict(self))
        for name in ("data", "out", "test", "edits"):
            if getattr(cfg, name):
                setattr(cfg, name, str(Path(getattr(cfg, name)).expanduser().resolve()))
        for name in ("data", "test", "edits"):
            if getattr(cfg, name) and not Path(getattr(cfg, name)).is_dir():
                raise UserError("err.train.no_folder", name=name, path=getattr(cfg, name))
        bad = [c for c in cfg.conditions if c not in CONDITIONS]
        if bad or not cfg.conditions:
            raise UserError("err.train.bad_condition", value=",".join(bad) or "(none)",
                            choices=", ".join(CONDITIONS))
        cfg.conditions = list(dict.fromkeys(cfg.conditions))
        cfg.seeds = list(dict.fromkeys(int(s) for s in cfg.seeds))
        if not cfg.seeds:
            raise UserError("err.train.not_positive", name="seeds", value="(none)")
        try:
            cfg.steps_scale = sorted({int(s) for s in cfg.steps_scale})
        except (TypeError, ValueError):
            raise UserError("err.train.not_positive", name="steps-scale", value=cfg.steps_scale) from None
        if not cfg.steps_scale or cfg.steps_scale[0] < 1:
            raise UserError("err.train.not_positive", name="steps-scale", value=cfg.steps_scale)
        bad = [p for p in cfg.protocols if p not in PROTOCOLS]
        if bad or not cfg.protocols:
            raise UserError("err.train.bad_protocol", value=",".join(bad) or "(none)", choices=", ".join(PROTOCOLS))
        cfg.protocols = [p for p in PROTOCOLS if p in cfg.protocols or p == "steps"]   # steps: the reference
        if int(cfg.early_stop) < 0:
            raise UserError("err.train.not_positive", name="early-stop", value=cfg.early_stop)
        if not 0.0 < cfg.val_fraction < 1.0:
            raise UserError("err.train.bad_fraction", name="val-fraction", value=cfg.val_fraction)
        if not 0.0 <= cfg.cross_val_fraction < 1.0:
            raise UserError("err.train.bad_fraction", name="cross-val-fraction", value=cfg.cross_val_fraction)
        for name in ("epochs", "batch_size", "pgd_steps", "pgd_restarts"):
            if int(getattr(cfg, name)) < 1:
                raise UserError("err.train.not_positive", name=name.replace("_", "-"), value=getattr(cfg, name))
        if cfg.backbone not in BACKBONES:
            raise UserError("err.train.bad_backbone", value=cfg.backbone, choices=", ".join(BACKBONES))
        if cfg.finetune not in FINETUNE_MODES:
            raise UserError("err.train.bad_finetune", value=cfg.finetune, choices=", ".join(FINETUNE_MODES))
        if not 16 <= int(cfg.size) <= 512:
            raise UserError("err.train.bad_size", value=cfg.size)
        if not 0.0 < cfg.test_fraction < 1.0:
            raise UserError("err.train.bad_fraction", name="test-fraction", value=cfg.test_fraction)
        parse_eps(cfg.eps)
        # λ of the re-drawn mixes: fixed with --lam, else drawn per mix from a range (recorded, default
        # DEFAULT_LAM_RANGE). The stored GenMix images of the generation step always use one fixed λ.
        if cfg.lam is not None:
            if cfg.lam_range is not None:
                raise UserError("err.train.lam_and_range", lam=cfg.lam, range=cfg.lam_range)
            cfg.lam = check_fraction("lam", cfg.lam)
        else:
            cfg.lam_range = list(check_lam_range(DEFAULT_LAM_RANGE if cfg.lam_range is None else cfg.lam_range))
        try:
            cfg.few_shot = sorted({int(k) for k in cfg.few_shot})
        except (TypeError, ValueError):
            raise UserError("err.train.bad_few_shot", value=",".join(map(str, cfg.few_shot))) from None
        if cfg.few_shot and cfg.few_shot[0] < 1:
            raise UserError("err.train.bad_few_shot", value=",".join(map(str, cfg.few_shot)))
        return cfg

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return float(self.lr)
        return DEFAULT_LR["small_cnn" if self.backbone == "small_cnn" else self.finetune]

    def run_seeds(self, seed: int) -> dict[str, int]:
        """What run seed ``seed`` draws (issue #15: every seed varies the split, the generation and the
        training): the split seed and the generation seed derived from the base seeds, and the training seed."""
        from genmix_core.seeds import item_seed

        return {"split": item_seed(int(self.split_seed), "split", str(int(seed))),
                "generation": item_seed(int(self.gen_seed), "generation", str(int(seed))),
                "training": int(seed)}

    def fingerprint(self) -> str:
        """Key of everything that changes a run's result (not the output folder, device or condition list)."""
        # few_shot, steps_scale and protocols only add runs (each budget is part of a run's key, see
        # results.run_key): they never invalidate the others.
        keep = {k: v for k, v in asdict(self).items()
                if k not in ("out", "conditions", "seeds", "device", "few_shot", "steps_scale", "protocols")}
        for name in ("filters", "no_filter"):  # runs made before these settings keep their key
            if not keep.get(name):
                keep.pop(name, None)
        return content_key(keep)

    def few_shot_fingerprint(self, k: int) -> str:
        """Key of a few-shot run at ``k`` originals per class."""
        return content_key({"compare": self.fingerprint(), "few_shot_k": int(k)})


def load_config(run_dir: str | Path) -> CompareConfig:
    """The settings a run folder was started with (to resume it).

    Raises:
        UserError: ``err.train.not_results`` when the folder holds no Train & Compare run.
    """
    return read_config(run_dir, CompareConfig)
