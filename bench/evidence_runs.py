"""Every run docs/EVIDENCE.md needs (issue #15), through the compare CLI users run, into one summary JSON.

Each study below is one ``python -m genmix_core.train ...`` command (the users' path, in a subprocess) on the
shipped sample set: train on ``lab``, test on the held-out ``lab`` originals and on ``line``, whose photos are
split per seed into a validation part (for anything chosen) and a test part (for what is reported). Studies
that share data, prompts and training settings share a run folder, so a run two studies both plan (say
``genmix`` at 4× in ``main`` and in ``protocol``) is trained once: the compare job keys finished runs by their
settings and photos, not by the list of conditions or budgets asked for.

Usage::

    python bench/evidence_runs.py --device cpu --out /tmp/ev --quick          # CPU smoke test (~10 min, 2 cores)
    python bench/evidence_runs.py --device cuda --out /tmp/ev --part 1        # H200: first call
    python bench/evidence_runs.py --device cuda --out /tmp/ev --part 2        # H200: second call
    python bench/evidence_runs.py --out /tmp/ev --plan                        # what would run, and its time here
    python bench/evidence_tables.py /tmp/ev/summary.json                      # the tables of EVIDENCE.md
    python bench/evidence_runs.py --out /tmp/ev --from-results R.json --only sweep16 --summary S.json
        # a study's summary entry rebuilt from its folder's results.json (when summary.json did not come back)

The summary records the machine and the code's commit: ``git rev-parse HEAD``, or ``GENMIX_COMMIT`` when set (set it on
a machine that runs a copy of the working tree whose ``.git`` may be stale: ``GENMIX_COMMIT=$(git rev-parse HEAD)`` here).

Restartable: a study whose summary entry says ``done`` is skipped, and a study started again resumes inside its
run folder (finished runs are reused). ``--deadline-s`` stops cleanly before a call's time limit (the compare
job is asked to cancel between two steps; what finished stays), so the next call carries on.

Parts (each fits one ≤ 9-minute call on one H200 by the plan below; each part is complete on its own, so a
fresh machine for the second call costs only that part's generation again):

- part 1: ``main`` (every condition and control, 1× and 4× the base budget) and ``protocol`` (the authors'
  epochs over GenMix's own pool, 1× and 4×);
- part 2: ``sweep16`` (baseline, GenMix and edits at 16× the base budget), ``authors_prompts`` (the authors'
  classification prompts instead of the factory prompts, which were written knowing what ``line`` looks like)
  and ``sweep16_mix`` (Mixup and CutMix at 16×);
- part 3, Fashion-MNIST (``--fashion-mnist DIR`` of the IDX files): ``fmnist_authors`` (the authors' prompts) and
  ``fmnist_camera`` (the recipe search's camera prompts), baseline, GenMix and edits at 1× and 4×, trained on 50
  photos per class of the training set and tested on 40 per class of the test set seen through another camera
  (the shift of ``bench/search_fashion_mnist.py``), half of them the validation part.

Studies in different run folders can run at the same time as separate processes, each with its own ``--out``
(a run folder is claimed by one job at a time): on a machine with two GPUs, ``CUDA_VISIBLE_DEVICES`` picks one
for each.

Within a study the compare job trains seed by seed, so a study stopped by the deadline still holds complete
seeds (its summary entry says ``incomplete`` and how many).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from genmix_core.paths import SAMPLE_DATA_DIR  # noqa: E402
from search_fashion_mnist import FASHION_MNIST_DIR, PROMPTS as CAMERA_PROMPTS, prepare  # noqa: E402

SUMMARY_VERSION = 1
FACTORY_PROMPTS = "warm tungsten lighting,harsh overhead lighting with glare,low resolution noisy camera"
AUTHORS_PROMPTS = "Autumn,snowy,watercolor art,sunset"     # the authors advise starting with 2-4 of their 9
ALL_CONDITIONS = "baseline,genmix,edits,mixup,cutmix,fractal_only,hybrid_only,contrast_only"

#: The shipped sample set, relative to the repository (the compare commands run there, as a user types them).
LAB, LINE = (str((SAMPLE_DATA_DIR / d).relative_to(REPO)) for d in ("lab", "line"))
#: Settings every study shares, full and --quick. Seeds draw split, generation and training (issue #15).
COMMON = {
    "full": {"--data": LAB, "--test": LINE,
             "--cross-val-fraction": "0.5", "--seeds": "0,1,2,3,4", "--epochs": "10", "--batch-size": "32",
             "--backbone": "efficientnet_lite0", "--finetune": "head", "--size": "112",
             "--eps": "1/255,2/255,4/255,8/255", "--pgd-steps": "50", "--pgd-restarts": "2"},
    "quick": {"--data": LAB, "--test": LINE,
              "--cross-val-fraction": "0.5", "--seeds": "0,1,2", "--epochs": "2", "--batch-size": "16",
              "--backbone": "small_cnn", "--size": "32", "--eps": "2/255,8/255", "--pgd-steps": "5",
              "--pgd-restarts": "2"},
}
#: Fashion-MNIST (part 3): training photos from the official training set, "on-site" photos from its test set
#: seen through another camera (bench/search_fashion_mnist.py's seeded shift: dimmer, warm, blurred, noisy).
FMNIST_DATA = {"--data": "{fmnist}/train", "--test": "{fmnist}/onsite"}
#: Per class: training photos, on-site photos (half of them the validation part), full and --quick.
#: 50 training photos per class: the few-photo case the method claims, and a study that fits one GPU call.
FMNIST_SIZES = {"full": (50, 40), "quick": (10, 4)}
#: Budget multipliers: the issue's 1, 4, 16; --quick keeps the shape with small numbers.
SCALES = {"full": {"low": "1,4", "high": "16"}, "quick": {"low": "1,2", "high": "4"}}


@dataclass(frozen=True)
class Study:
    """One compare command: its name, part, run folder (shared by studies of the same data and prompts), and
    the arguments beyond :data:`COMMON` (``{scale}`` / ``{scale_high}`` are filled from :data:`SCALES`,
    ``{fmnist}`` with the Fashion-MNIST folders :func:`prepare_data` writes)."""

    name: str
    part: int
    folder: str
    args: dict = field(default_factory=dict)
    about: str = ""


STUDIES = (
    Study("main", 1, "sample_factory",
          {"--conditions": ALL_CONDITIONS, "--steps-scale": "{scale}", "--prompts": FACTORY_PROMPTS},
          "every condition and control at the matched base budget and 4x; paired to the baseline per seed"),
    Study("protocol", 1, "sample_factory",
          {"--conditions": "baseline,genmix", "--steps-scale": "{scale}", "--protocols": "steps,epochs",
           "--prompts": FACTORY_PROMPTS},
          "the authors' protocol: epochs over GenMix's own pool (originals + GenMix images: 4x the steps)"),
    Study("sweep16", 2, "sample_factory",
          {"--conditions": "baseline,genmix,edits", "--steps-scale": "{scale_high}", "--prompts": FACTORY_PROMPTS},
          "16x the base budget: does the sign of a difference survive a longer training?"),
    Study("authors_prompts", 2, "sample_authors",
          {"--conditions": "baseline,genmix,edits", "--steps-scale": "{scale}", "--prompts": AUTHORS_PROMPTS},
          "the authors' classification prompts, chosen without looking at line"),
    Study("sweep16_mix", 2, "sample_factory",
          {"--conditions": "baseline,mixup,cutmix", "--steps-scale": "{scale_high}", "--prompts": FACTORY_PROMPTS},
          "Mixup and CutMix at 16x (last: the first a deadline leaves out; its baseline runs are sweep16's)"),
    Study("fmnist_authors", 3, "fmnist_authors",
          {**FMNIST_DATA, "--conditions": "baseline,genmix,edits", "--steps-scale": "{scale}",
           "--prompts": AUTHORS_PROMPTS},
          "Fashion-MNIST with the authors' classification prompts; on-site = the test set through another camera"),
    Study("fmnist_camera", 3, "fmnist_camera",
          {**FMNIST_DATA, "--conditions": "baseline,genmix,edits", "--steps-scale": "{scale}",
           "--prompts": CAMERA_PROMPTS},
          "Fashion-MNIST with camera prompts written knowing the on-site shift (a favourable case, said so)"),
)


def command(study: Study, mode: str, out: Path, device: str) -> list[str]:
    """The compare CLI's argv for ``study`` (as a user would type it)."""
    args = {**COMMON[mode], **study.args, "--out": str(out / study.folder), "--device": device}
    fill = {"scale": SCALES[mode]["low"], "scale_high": SCALES[mode]["high"],
            "fmnist": str(out / "fashion_mnist")}
    argv = [sys.executable, "-m", "genmix_core.train"]
    for flag, value in args.items():
        argv += [flag, str(value).format(**fill)]
    return argv


def _reads_fmnist(study: Study) -> bool:
    return any("{fmnist}" in str(v) for v in study.args.values())


def prepare_data(studies: list[Study], mode: str, out: Path, source: Path) -> None:
    """Write the Fashion-MNIST folders (``OUT/fashion_mnist/{train,onsite}``) once, if a study reads them."""
    root = out / "fashion_mnist"
    if (root / "train").is_dir() or not any(map(_reads_fmnist, studies)):
        return
    per_class, onsite = FMNIST_SIZES[mode]
    tmp = root.with_name(root.name + ".incomplete")
    prepare(tmp, per_class, onsite, source)
    os.replace(tmp, root)


# --- what a study costs ----------------------------------------------------------------------------------

def plan(studies: list[Study], mode: str, out: Path, device: str) -> dict:
    """Runs (arm × seed) each study adds to its folder (shared runs counted once, by the first study that
    plans them), its optimizer steps, and seconds on this machine from the compare job's own cost model."""
    from genmix_core.jobconfig import config_from_argv
    from genmix_core.train.arms import plan_arms
    from genmix_core.train.cli import build_parser
    from genmix_core.train.config import CompareConfig
    from genmix_core.train.data import held_out_count
    from genmix_core.train.estimate import planned_steps, run_seconds, unit_costs
    from genmix_core.train.evaluate import parse_eps
    from genmix_core.train.loop import pick_device

    seen: dict[str, set] = {}
    rows = {}
    for st in studies:
        argv = command(st, mode, out, device)[3:]
        argv = [str(REPO / v) if i and argv[i - 1] in ("--data", "--test") else v for i, v in enumerate(argv)]
        cfg = config_from_argv(CompareConfig, build_parser(), argv).validated()
        counts = [len(list(d.iterdir())) for d in sorted(Path(cfg.data).iterdir()) if d.is_dir()]
        n_test = sum(held_out_count(n, cfg.test_fraction) for n in counts)
        train_counts = [n - held_out_count(n, cfg.test_fraction) for n in counts]
        n_line = sum(len(list(d.iterdir())) for d in Path(cfg.test).iterdir() if d.is_dir())
        arms = plan_arms(cfg.conditions, cfg.steps_scale, cfg.protocols)
        steps = planned_steps(cfg, train_counts, sum(train_counts) * len(cfg.prompts))
        units = unit_costs(cfg.backbone, cfg.finetune, str(pick_device(cfg.device)), cfg.size, cfg.batch_size)
        done = seen.setdefault(st.folder, set())
        new = [(a.label, s) for s in cfg.seeds for a in arms if (a.label, s) not in done]
        by_key = dict(zip([(a.label, s) for s in cfg.seeds for a in arms], steps))
        done.update(new)
        secs = [run_seconds(units, steps=by_key[k], batch=cfg.batch_size, size=cfg.size, n_test=n_test,
                            n_cross=n_line, eps_count=len(parse_eps(cfg.eps)), pgd_steps=cfg.pgd_steps,
                            restarts=cfg.pgd_restarts) for k in new]
        rows[st.name] = {"part": st.part, "runs": len(new), "steps": sum(by_key[k] for k in new),
                         "train_s": round(sum(t for t, _ in secs), 1),
                         "eval_s_upper": round(sum(e for _, e in secs), 1), "costs": units.source}
    return rows


# --- running ---------------------------------------------------------------------------------------------

def _slim(results: dict) -> dict:
    """``results.json`` without what the tables never read (per-photo answers, content keys, file lists);
    each run keeps its arm, seed, budget, loss, times and accuracies."""
    keep = {k: v for k, v in results.items() if k not in ("runs", "data", "split", "not_reused")}
    split = results.get("split") or {}
    keep["split"] = {k: v for k, v in split.items() if k not in ("test_images", "per_seed")}
    keep["runs"] = [{"arm": r.get("arm", r["condition"]), "condition": r["condition"], "seed": r["seed"],
                     "steps": r["stats"].get("steps"), "pool_size": r["stats"].get("pool_size"),
                     "final_loss": r["stats"].get("final_loss"), "train_s": r["stats"].get("seconds"),
                     "eval_s": r.get("eval_seconds"), "device": r.get("device"),
                     "in_domain": r["in_domain"]["accuracy"],
                     "cross_domain": (r.get("cross_domain") or {}).get("accuracy"),
                     "cross_val": (r.get("cross_val") or {}).get("accuracy"), "finished": r.get("finished")}
                    for r in results.get("runs", [])]
    return keep


def entry_from_results(st: Study, results: dict, mode: str, out: Path, device: str, source: str) -> dict:
    """A study's summary entry rebuilt from its folder's ``results.json`` (say a GPU call whose summary did not
    come back): the same slimmed results the run would have stored; its status is the compare job's own, and
    what only the running script knew (wall time, start) is left empty and says so (``rebuilt_from``)."""
    status = {"done": "done", "cancelled": "incomplete"}.get(results.get("status"), str(results.get("status")))
    shown = ["python", *command(st, mode, out, device)[1:]]
    return {"part": st.part, "folder": st.folder, "about": st.about, "status": status,
            "command": shlex.join(shown), "wall_s": None, "started": None, "finished": None,
            "rebuilt_from": source, "results": _slim(results)}


def _machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
            "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    # GENMIX_COMMIT first: a copy of the working tree (the GPU machine's) may carry a stale .git.
    info["commit"] = os.environ.get("GENMIX_COMMIT") or None
    if info["commit"] is None:
        try:
            info["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                            timeout=10).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def run_study(st: Study, argv: list[str], folder: Path, deadline: float | None, log,
              env: dict | None = None) -> tuple[str, float]:
    """Run one compare command; ``(status, wall seconds)``. Past ``deadline`` (monotonic) the job is asked to
    cancel between two steps (finished runs stay), and stopped 60 s later if it has not."""
    from genmix_core.jobs import request_cancel

    start = time.monotonic()
    log.write(f"\n$ {shlex.join(argv)}\n")
    log.flush()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    while proc.poll() is None:
        time.sleep(1.0)
        now = time.monotonic()
        if deadline is not None and now > deadline:
            request_cancel(folder)          # again each second: a job starting up clears an earlier one
            if now > deadline + 60:
                proc.terminate()
                proc.wait()
                return "incomplete", time.monotonic() - start
    wall = time.monotonic() - start
    return {0: "done", 1: "incomplete"}.get(proc.returncode, f"failed (exit {proc.returncode})"), wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder of the run folders (and summary.json, log.txt)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (passed to every compare command)")
    p.add_argument("--part", default="all", help="1, 2 or all (default)")
    p.add_argument("--quick", action="store_true", help="CPU smoke test: small CNN, 32 px, 3 seeds, few steps")
    p.add_argument("--summary", help="summary JSON (default OUT/summary.json; updated, never replaced)")
    p.add_argument("--deadline-s", type=float, help="stop cleanly after this many seconds (e.g. 480 in a "
                                                     "9-minute call); rerun the same command to carry on")
    p.add_argument("--only", help="comma-separated study names (default: all of the part)")
    p.add_argument("--plan", action="store_true", help="print runs, steps and estimated seconds; run nothing")
    p.add_argument("--threads", type=int, help="CPU threads of each compare process (OMP/MKL); on a busy "
                                               "2-core machine 1 avoids oversubscription")
    p.add_argument("--from-results", metavar="RESULTS_JSON",
                   help="run nothing: rebuild the summary entry of the one study named by --only from this "
                        "results.json of its run folder, into --summary (for a call whose summary was lost)")
    p.add_argument("--fashion-mnist", default=None, metavar="DIR",
                   help="folder of the Fashion-MNIST IDX .gz files for part 3 (default: Debian's "
                        "dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)")
    a = p.parse_args(argv)
    mode = "quick" if a.quick else "full"
    out = Path(a.out).resolve()
    studies = [s for s in STUDIES if a.part == "all" or str(s.part) == a.part]
    if a.only:
        studies = [s for s in studies if s.name in a.only.split(",")]
    if not studies:
        p.error(f"no study matches --part {a.part} --only {a.only}")
    if a.from_results:
        if len(studies) != 1:
            p.error("--from-results rebuilds one study: name it with --only")
        return rebuild(studies[0], Path(a.from_results), mode, out, a.device,
                       Path(a.summary) if a.summary else out / "summary.json")
    if not a.plan:
        prepare_data(studies, mode, out, Path(a.fashion_mnist or FASHION_MNIST_DIR))
    elif not (out / "fashion_mnist" / "train").is_dir():    # --plan writes nothing
        kept = [s for s in studies if not _reads_fmnist(s)]
        if len(kept) < len(studies):
            print("Fashion-MNIST studies: not costed (their photos are written by the first real run)")
        studies = kept
    rows = plan(studies, mode, out, a.device)
    for name, r in rows.items():
        print(f"{name:<16} part {r['part']}: {r['runs']:>4} runs, {r['steps']:>6} steps; here about "
              f"{r['train_s']:.0f} s training + at most {r['eval_s_upper']:.0f} s evaluation ({r['costs']} costs)")
    if a.plan:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    summary_path = Path(a.summary) if a.summary else out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if summary.get("mode", mode) != mode:
        p.error(f"{summary_path} holds {summary['mode']} runs; use another --summary for --quick")
    summary.update(version=SUMMARY_VERSION, mode=mode, device=a.device)
    summary.setdefault("machines", []).append({**_machine(), "part": a.part, "started": time.time()})
    studies_out = summary.setdefault("studies", {})
    deadline = None if a.deadline_s is None else time.monotonic() + a.deadline_s
    status = "done"

    def save() -> None:
        tmp = summary_path.with_suffix(".incomplete")
        tmp.write_text(json.dumps(summary, indent=1, default=str))
        os.replace(tmp, summary_path)

    with open(out / "log.txt", "a") as log:
        for st in studies:
            entry = studies_out.get(st.name) or {}
            if entry.get("status") == "done":
                print(f"{st.name}: done before, skipped")
                continue
            if deadline is not None and time.monotonic() > deadline:
                status = "incomplete"
                break
            argv_ = command(st, mode, out, a.device)
            folder = out / st.folder
            print(f"{st.name}: running ({st.about})", flush=True)
            started = time.time()
            threads = {} if a.threads is None else {k: str(a.threads) for k in ("OMP_NUM_THREADS",
                                                                                 "MKL_NUM_THREADS")}
            state, wall = run_study(st, argv_, folder, deadline, log, threads)
            shown = ["python", *argv_[1:]]        # as a user types it
            entry = {"part": st.part, "folder": st.folder, "about": st.about, "status": state,
                     "command": shlex.join(shown), "wall_s": round(entry.get("wall_s", 0.0) + wall, 1),
                     "plan": rows[st.name], "started": entry.get("started", started), "finished": time.time()}
            res_file = folder / "results.json"
            if res_file.is_file():
                entry["results"] = _slim(json.loads(res_file.read_text()))
            studies_out[st.name] = entry
            save()
            print(f"{st.name}: {state} in {wall:.0f} s", flush=True)
            if state != "done":
                status = "incomplete" if state == "incomplete" else "failed"
                break
    summary["machines"][-1].update(finished=time.time(), status=status)
    save()
    print(f"summary: {summary_path} ({status}); log: {out / 'log.txt'}")
    return 0 if status == "done" else 1


def rebuild(st: Study, results_path: Path, mode: str, out: Path, device: str, summary_path: Path) -> int:
    """Write (or update) ``summary_path`` with ``st``'s entry rebuilt from ``results_path``."""
    results = json.loads(results_path.read_text())
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    if summary.get("mode", mode) != mode:
        raise SystemExit(f"{summary_path} holds {summary['mode']} runs, not {mode}")
    summary.update(version=SUMMARY_VERSION, mode=mode, device=device)
    summary.setdefault("machines", [])
    summary.setdefault("studies", {})[st.name] = entry_from_results(st, results, mode, out, device,
                                                                    results_path.name)
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = summary_path.with_suffix(".incomplete")
    tmp.write_text(json.dumps(summary, indent=1, default=str))
    os.replace(tmp, summary_path)
    print(f"{st.name}: entry rebuilt from {results_path} ({summary['studies'][st.name]['status']}) "
          f"into {summary_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
