"""The recipe search job: ``python -m genmix_core.search --data DIR --test DIR --seeds 0,1,2 --out DIR``.

Steps (progress in ``job.json`` with the time left, as for Train & Compare; a ``CANCEL`` file stops it between
two steps; a rerun of the same settings resumes: finished runs are reused, see :mod:`.runs`):

1. Split the on-site photos once into a selection part and a report part (:mod:`.split`), or take the fallback
   (a held-out part of the training photos) when they are too few.
2. For every seed: Train & Compare's split of the training photos (held-out originals never trained on); when a
   recipe trains on edits, one generation run over all training photos (``<out>/generation``) whose edits each
   seed takes for its own training originals.
3. The schedule (:mod:`.plan`): every recipe of the grid at the base budget, the prompt stage, more seeds for
   the promising recipes, the finalists at the larger budgets; each run scored on the selection part only.
4. The chosen recipe and its reference (the baseline at the same budget) are scored once on the report part;
   the verdict is the meeting report's paired verdict (:func:`genmix_core.train.compute_verdict`).
5. ``search.json`` (:mod:`.results`), rewritten after every run; the saved weights are deleted at the end.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json
from genmix_core.jobconfig import write_config
from genmix_core.jobs import JobReporter
from genmix_core.runclaim import claim_run_folder
from genmix_core.search import runs as search_runs
from genmix_core.search.config import SearchConfig
from genmix_core.search.plan import ScheduleState, planned_runs, run_schedule
from genmix_core.search.recipes import REFERENCE, Recipe, grid
from genmix_core.search.results import SEARCH_FILE, assemble
from genmix_core.search.split import OnsiteSplit, read_split_record, split_from_record, split_onsite
from genmix_core.train import Budget, Cancelled, compute_verdict, get_condition, pick_device

GENERATION_DIR = "generation"


def run_search(cfg: SearchConfig, reporter: JobReporter | None = None) -> dict:
    """Run (or resume) the search into ``cfg.out``; returns ``search.json``'s content.

    Raises:
        UserError: bad settings or data (``err.search.*``, ``err.train.*``, ``err.gen.*``), a disk failure.
        genmix_core.runclaim.AlreadyRunning: another live process works in ``cfg.out``.
        Cancelled: a ``CANCEL`` file stopped it (finished runs stay; ``status`` ``"cancelled"``).
    """
    cfg = cfg.validated()
    with claim_run_folder(cfg.out, "err.search.already_running"):
        return SearchJob(cfg, reporter).run()


def reference_of(chosen: Recipe, base_scale: int) -> Recipe | None:
    """What the chosen recipe is judged against on the report part: the baseline at the same budget (the
    baseline at the base budget when the chosen recipe is a longer baseline; None when it is the baseline)."""
    if chosen.condition != REFERENCE:
        return Recipe(REFERENCE, scale=chosen.scale)
    return None if chosen.scale == base_scale else Recipe(REFERENCE, scale=base_scale)


class SearchJob:
    """One search's state while it runs (read by :mod:`.runs` and :mod:`.results`)."""

    def __init__(self, cfg: SearchConfig, reporter: JobReporter | None):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.own_reporter = reporter is None
        self.reporter = reporter or JobReporter(self.out, kind="search")
        self.compare = cfg.compare_config().validated()
        self.device = pick_device(cfg.device)
        self.grid = grid(cfg.conditions, cfg.lams, cfg.lam_spread, cfg.mask_sets, scale=cfg.steps_scale[0])
        self.state = ScheduleState()
        self.runs: dict[tuple[Recipe, int], dict] = {}
        self.final: list[dict] = []
        self.timings: dict[str, float] = {}
        self.counts = {"trained": 0, "reused": 0}
        self.prompts: list[str] = []
        self._report: dict = {}
        self.status = "running"
        self.verdict: dict | None = None
        self.reference: Recipe | None = None

    # --- data ------------------------------------------------------------------------------------------------

    def _split(self) -> OnsiteSplit:
        from genmix_core.train.data import scan_images

        train = scan_images(self.cfg.data)
        self.classes = sorted(train["label"].unique())
        onsite = None
        try:
            onsite = scan_images(self.cfg.test) if self.cfg.test else None
        except UserError as exc:     # an empty on-site folder: no on-site photos (the fallback says so)
            if exc.key != "err.train.no_images":
                raise
        if onsite is not None:
            unknown = sorted(set(onsite["label"]) - set(self.classes))
            if unknown:
                raise UserError("err.train.test_classes", path=self.cfg.test, unknown=", ".join(unknown),
                                known=", ".join(self.classes))
        hashes = set(train["hash"])
        if self.cfg.split_from:
            record, source = read_split_record(self.cfg.split_from)
            return split_from_record(onsite, record, source, hashes)
        return split_onsite(onsite, fraction=self.cfg.selection_fraction, seed=self.cfg.split_seed,
                            min_per_class=self.cfg.min_per_class, training_hashes=hashes)

    def _seed_data(self, seed: int):
        from genmix_core.train.data import prepare_data
        from genmix_core.train.seeddata import SeedData

        seeds = self.compare.run_seeds(seed)
        val = self.cfg.val_fraction if self.split.mode == "training_domain" else 0.0
        data = prepare_data(self.cfg.data, size=self.cfg.size, test_fraction=self.cfg.test_fraction,
                            split_seed=seeds["split"], val_fraction=val)
        return SeedData(seed=int(seed), seeds=seeds, data=data, generation=None, seconds={})

    def selection_part(self, sd) -> tuple[str, object, object, str]:
        """``(part name, x, y, content key)`` the recipes are compared on at seed ``sd.seed``."""
        if self.split.mode == "onsite":
            if "selection" not in self._report:
                x, y = search_runs.photo_tensors(self.split.selection, self.classes, self.cfg.size)
                self._report["selection"] = ("selection", x, y, search_runs.key_of(sorted(self.split.selection["hash"])))
            return self._report["selection"]
        data = sd.data
        return "training_holdout", data.val_x, data.val_y, search_runs.key_of(sorted(data.val["hash"]))

    def report_part(self, sd) -> tuple[str, object, object, str]:
        """``(part name, x, y, content key)`` of the report part (loaded at the report stage only)."""
        if self.split.report is not None:
            if "report" not in self._report:
                x, y = search_runs.photo_tensors(self.split.report, self.classes, self.cfg.size)
                self._report["report"] = ("report", x, y, search_runs.key_of(sorted(self.split.report["hash"])))
            return self._report["report"]
        data = sd.data       # no on-site photos at all: the held-out training originals, never trained on
        return "report_held_out", data.test_x, data.test_y, search_runs.key_of(sorted(data.test["hash"]))

    def data_key(self, sd, recipe: Recipe) -> dict:
        from genmix_core.train.data import data_parts

        parts = data_parts(sd.data)
        return {p: v["key"] for p, v in parts.items() if p != "edits" or get_condition(recipe.condition).needs_edits}

    def reused(self, recipe: Recipe) -> None:
        self.counts["reused"] += 1
        seconds = sum(self.tracker.run_seconds(self.base.steps * recipe.scale))
        self.tracker.done += seconds
        extra = self.reporter.state.extra
        extra["base_done"] = round(float(extra.get("base_done", 0)) + seconds, 2)
        self.reporter.update(done=round(min(self.tracker.done, self.tracker.total), 2))

    # --- the job ---------------------------------------------------------------------------------------------

    def _plan(self, n_train: int) -> None:
        from genmix_core.train.estimate import Tracker, cost_key, unit_costs

        cfg = self.cfg
        units = unit_costs(cfg.backbone, cfg.finetune, str(self.device), cfg.size, cfg.batch_size)
        n_sel = len(self.split.selection) if self.split.selection is not None else len(self.seeds[cfg.seeds[0]].data.val)
        self.tracker = Tracker(self.reporter, units, cost_key(cfg.backbone, cfg.finetune, str(self.device)),
                               batch=cfg.batch_size, size=cfg.size, n_test=n_sel, n_cross=0, eps_count=0,
                               pgd_steps=0)
        self.gen_parts = []
        if self.needs_edits and not cfg.edits:
            from genmix_core.generate import estimate_generation
            from genmix_core.train.seeddata import generation_config

            gen = generation_config(self.compare, cfg.seeds[0]).resolved()
            first = self.seeds[cfg.seeds[0]].data
            n_all = n_train + len(first.test) + (0 if first.val is None else len(first.val))   # every training photo
            self.gen_parts = [estimate_generation(n_all * len(gen.prompts), gen.editor, model=gen.model).seconds]
            n_prompts = len(gen.prompts)
        else:
            n_prompts = 2
        scales = planned_runs(len(self.grid), seeds=cfg.seeds, scales=cfg.steps_scale, eta=cfg.eta,
                              finalists=cfg.finalists, n_prompts=n_prompts, prompt_search=cfg.prompt_search,
                              edit_recipes=any("prompts" in r.axes for r in self.grid))
        n_report = len(self.split.report) if self.split.report is not None else n_sel
        runs = [self.tracker.run_seconds(self.base.steps * s) for s in scales]
        runs += [(0.0, 2 * n_report * units.fwd * cfg.size ** 2 / 1e6)] * len(cfg.seeds)
        self.tracker.plan(sum(self.gen_parts), runs)

    def _prompt_order(self) -> list[str]:
        """The search's prompts, in the generation's order (those some training photo has an edit of)."""
        from genmix_core.train.seeddata import generation_config

        first = self.seeds[self.cfg.seeds[0]].data
        present = list(dict.fromkeys(first.edits["prompt"]))
        try:
            asked = generation_config(self.compare, self.cfg.seeds[0]).resolved().prompts
        except UserError:
            asked = []
        return [p for p in asked if p in present] + [p for p in present if p not in asked]

    def _generate(self):
        """The one generation run every seed takes its edits from (``<out>/generation``): all training photos,
        so each seed finds the edits of its own training originals (held-out ones are never trained on:
        :func:`genmix_core.train.data.load_edits` drops them by content). One run instead of one per seed keeps
        the search inside its time budget; ``search.json`` says the edits are shared."""
        from dataclasses import replace

        from genmix_core.generate import run_generation
        from genmix_core.jobs import request_cancel
        from genmix_core.train.seeddata import generation_config

        gcfg = replace(generation_config(self.compare, self.cfg.seeds[0]), out=str(self.out / GENERATION_DIR),
                       cache=self.cfg.cache)

        def progress(done: int, total: int | None = None) -> None:
            self.tracker.generated(done / total if total else 0.0, message_key="train.job.generating",
                                   done_items=done)
            if self.reporter.cancel_requested():
                request_cancel(gcfg.out)

        if run_generation(gcfg, progress=progress).status != "done":
            raise Cancelled()
        return replace(self.compare, edits=gcfg.out)

    def write(self) -> dict:
        self.timings["total_s"] = round(time.perf_counter() - self.t0, 2)
        data = assemble(self)
        atomic_write_json(self.out / SEARCH_FILE, data)
        return data

    def run(self) -> dict:
        self.t0 = time.perf_counter()
        write_config(self.out, self.cfg)
        self.reporter.update(message_key="search.job.loading", force=True)
        try:
            self._run()
            self.status = "done"
            self.reporter.update(done=self.reporter.state.total, message_key="search.job.done", force=True)
        except Cancelled:
            self.status = "cancelled"
            raise
        except BaseException:
            self.status = "failed"
            raise
        finally:
            try:
                final = self.write() if hasattr(self, "split") else None
            except UserError:
                if self.status != "failed":
                    raise
                final = None
            if self.status == "done":
                shutil.rmtree(self.out / search_runs.WEIGHTS_DIR, ignore_errors=True)
            self.reporter.state.extra["timings"] = dict(self.timings)
            if self.own_reporter:
                self.reporter.finish(self.status)
        return final

    def _run(self) -> None:
        from genmix_core.train.seeddata import add_edits

        cfg = self.cfg
        t = time.perf_counter()
        self.split = self._split()
        self.seeds = {s: self._seed_data(s) for s in cfg.seeds}
        first = self.seeds[cfg.seeds[0]].data
        self.base = Budget.for_epochs(len(first.train), cfg.epochs, cfg.batch_size)
        self.needs_edits = any(get_condition(r.condition).needs_edits for r in self.grid)
        self.timings["prepare_s"] = round(time.perf_counter() - t, 2)
        self._plan(len(first.train))
        self.write()
        t = time.perf_counter()
        if self.needs_edits:
            edits = self.compare
            if not cfg.edits:
                self.tracker.generation_started(sum(self.gen_parts))
                edits = self._generate()
                self.tracker.generation_finished()
            for s in cfg.seeds:
                add_edits(edits, self.seeds[s], self.reporter, self.tracker)
            self.prompts = self._prompt_order()
        self.timings["generation_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()

        def evaluate(recipe: Recipe, seed: int, stage: str) -> float:
            run = search_runs.selection_run(self, self.seeds[seed], recipe, stage)
            self.runs[(recipe, seed)] = run
            self.write()
            return float(run["selection"]["accuracy"])

        run_schedule(self.grid, seeds=list(cfg.seeds), scales=list(cfg.steps_scale), eta=cfg.eta,
                     finalists=cfg.finalists, n_prompts=len(self.prompts), prompt_search=cfg.prompt_search,
                     evaluate=evaluate, state=self.state)
        self.timings["selection_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        self._report_stage()
        self.timings["report_s"] = round(time.perf_counter() - t, 2)

    def _report_stage(self) -> None:
        """The report part, once: the chosen recipe and its reference at every seed; then the verdict."""
        chosen = self.state.chosen
        self.reference = reference_of(chosen, self.cfg.steps_scale[0])
        recipes = [r for r in (self.reference, chosen) if r is not None]
        for recipe in recipes:
            for s in self.cfg.seeds:
                self.final.append(search_runs.report_run(self, self.seeds[s], recipe, self.runs[(recipe, s)]))
        if self.reference is not None:
            entries = compute_verdict(self.final, [self.reference.name, chosen.name], reference=self.reference.name)
            onsite = [e for e in entries if e["domain"] == "onsite"]
            self.verdict = onsite[0] if onsite else None
