"""The results of a Train & Compare run: aggregation over seeds, reading ``results.json``, listing runs.

``results.json`` (written by :mod:`genmix_core.train.compare`) holds ``config``, ``classes``, ``eps`` (labels in the
order asked), ``budget`` (steps, batch size, samples: the same for every condition), ``split`` (seed, fraction,
held-out file names), ``cross_domain``, ``generation``, ``conditions`` (per condition: mean/std/values over
seeds of ``accuracy``, ``cross_domain_accuracy``, ``fgsm_accuracy[eps]``, ``pgd_accuracy[eps]``, per-class
accuracy, confusion matrices summed over seeds, ``steps``, ``samples``, ``pool_size``), ``runs`` (every
(condition, seed) result in full) and, with ``--few-shot``, ``few_shot``: ``ks``, ``epochs``, ``rule`` and
``points[str(k)]`` = ``{budget, n_train, conditions: {cond: {accuracy, cross_domain_accuracy, steps,
samples, pool_size, seeds}}}``. JSON object keys come back sorted: use ``config.conditions`` and ``eps``
for the order.

Newer files also hold ``data`` (per part of the data, ``{n, key}``: see
:func:`genmix_core.train.data.data_parts`) and ``not_reused`` (finished runs of an earlier start that were
trained again, each ``{condition, seed, k, reason, since, parts}``: see :func:`why_not_reused`); older files
lack both and still open. Since issue 9 also ``counts`` (photos per class: ``train``, ``test``, ``onsite``) and
``verdict`` (:mod:`genmix_core.train.verdict`); :func:`load_results` fills both in for older files where the
data allows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genmix_core.errors import UserError
from genmix_core.fileio import read_json
from genmix_core.train.verdict import verdict_of

RESULTS_FILE = "results.json"


def _stat(values: list[float]) -> dict:
    """``{"mean", "std", "n", "values"}``; std is the sample standard deviation over seeds (0 for one seed)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size), "values": arr.tolist()}


def summarize(runs: list[dict], conditions: list[str], classes: list[str]) -> dict:
    """Per condition: mean ± std over seeds of every metric, summed confusion matrices, the budget used."""
    out = {}
    for cond in conditions:
        rs = sorted((r for r in runs if r["condition"] == cond), key=lambda r: r["seed"])
        if not rs:
            continue
        ind = [r["in_domain"] for r in rs]
        summary = {
            "seeds": [r["seed"] for r in rs],
            "steps": sorted({r["stats"]["steps"] for r in rs}),
            "samples": sorted({r["stats"]["samples"] for r in rs}),
            "pool_size": rs[0]["stats"]["pool_size"],
            "train_seconds": _stat([r["stats"]["seconds"] for r in rs]),
            "accuracy": _stat([m["accuracy"] for m in ind]),
            "per_class": {c: _stat([m["per_class"].get(c) for m in ind]) for c in classes},
            "confusion": np.sum([m["confusion"] for m in ind], axis=0).tolist(),
        }
        # One budget for all seeds and conditions: store it as numbers, not lists, when it holds.
        for key in ("steps", "samples"):
            if len(summary[key]) == 1:
                summary[key] = summary[key][0]
        for attack in ("fgsm_accuracy", "pgd_accuracy"):
            labels = list(ind[0].get(attack, {}))
            summary[attack] = {e: _stat([m[attack][e] for m in ind]) for e in labels}
        cross = [r["cross_domain"] for r in rs if r.get("cross_domain")]
        if cross:
            summary["cross_domain_accuracy"] = _stat([m["accuracy"] for m in cross])
            summary["cross_domain_per_class"] = {c: _stat([m["per_class"].get(c) for m in cross]) for c in classes}
            summary["cross_domain_confusion"] = np.sum([m["confusion"] for m in cross], axis=0).tolist()
        out[cond] = summary
    return out


FEW_SHOT_KEYS = ("seeds", "steps", "samples", "pool_size", "accuracy", "cross_domain_accuracy")


def summarize_few_shot(runs: list[dict], conditions: list[str], classes: list[str]) -> dict:
    """One point of the few-shot curve: per condition, mean ± std over seeds of the accuracies (and budget)."""
    full = summarize(runs, conditions, classes)
    return {c: {k: s[k] for k in FEW_SHOT_KEYS if k in s} for c, s in full.items()}


def run_key(cfg, parts: dict, condition: str, k: int | None) -> dict:
    """What a finished (condition, seed[, k]) run must match to be reused: the settings' fingerprint and the
    data parts it trains or tests on (edits only for the conditions that use them)."""
    from genmix_core.seeds import content_key
    from genmix_core.train.conditions import CONDITIONS

    config_fp = cfg.fingerprint() if k is None else cfg.few_shot_fingerprint(k)
    needs = condition in CONDITIONS and CONDITIONS[condition].needs_edits
    used = {p: v for p, v in parts.items() if p != "edits" or needs}
    return {"fingerprint": content_key({"config": config_fp, "data": used}), "config_fingerprint": config_fp,
            "data": used}


def why_not_reused(old: dict, key: dict, mtime: float) -> dict:
    """Why a finished run of an earlier start cannot be reused: ``{"reason", "since", "parts"}``.

    Reasons: ``data_changed`` (same settings, other photos: ``parts`` names which), ``data_unknown`` (made by
    a version that did not record its photos), ``settings_changed``.
    """
    since = float(old.get("finished") or mtime)
    old_fp = old.get("config_fingerprint", old.get("fingerprint"))
    if old_fp != key["config_fingerprint"]:
        return {"reason": "settings_changed", "since": since, "parts": []}
    if not isinstance(old.get("data"), dict):
        return {"reason": "data_unknown", "since": since, "parts": []}
    parts = [p for p, v in key["data"].items() if (old["data"].get(p) or {}).get("key") != v["key"]]
    return {"reason": "data_changed", "since": since, "parts": parts,
            "counts": {p: [(old["data"].get(p) or {}).get("n"), key["data"][p]["n"]] for p in parts}}


def class_counts(data) -> dict[str, dict[str, int]]:
    """Photos per class of each test set and of training (:class:`~genmix_core.train.data.TrainingData`);
    ``onsite`` is empty without on-site photos. Every class appears in ``train`` and ``test``."""
    def count(df):
        return {} if df is None else {str(k): int(v) for k, v in df["label"].value_counts().items()}

    return {"train": {c: count(data.train).get(c, 0) for c in data.classes},
            "test": {c: count(data.test).get(c, 0) for c in data.classes},
            "onsite": count(data.cross)}


def _counts_from_runs(results: dict) -> dict:
    """``counts`` of a file from before issue 9: the test sets' class sizes are the rows of a run's confusion
    matrix; training photos per class were not recorded (left out)."""
    runs = results.get("runs") or []
    classes = results.get("classes", [])
    out: dict = {}
    for name, key in (("test", "in_domain"), ("onsite", "cross_domain")):
        cm = next((r[key]["confusion"] for r in runs if (r.get(key) or {}).get("confusion")), None)
        if cm is not None:
            out[name] = {c: int(sum(row)) for c, row in zip(classes, cm) if sum(row)}
    return out


def load_results(path: str | Path) -> dict:
    """Read ``results.json`` (or the run folder holding it); ``counts`` and ``verdict`` are filled in for
    files written before they existed.

    Raises:
        UserError: ``err.train.not_results`` when it is missing or not a Train & Compare result.
    """
    p = Path(path)
    p = p / RESULTS_FILE if p.is_dir() else p
    data = read_json(p)
    if not isinstance(data, dict) or data.get("kind") != "train" or "conditions" not in data:
        raise UserError("err.train.not_results", path=str(p))
    data.setdefault("counts", _counts_from_runs(data))
    data["verdict"] = verdict_of(data)
    return data


def list_train_runs(runs_dir: str | Path) -> list[Path]:
    """Train & Compare run folders under ``runs_dir`` (holding ``results.json`` or a train ``job.json``), newest
    first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        job = read_json(p / "job.json", default={}) or {}
        if (p / RESULTS_FILE).is_file() or job.get("kind") == "train":
            found.append((float(job.get("started") or p.stat().st_mtime), p))
    return [p for _, p in sorted(found, key=lambda r: (r[0], r[1].name), reverse=True)]


def format_table(results: dict) -> str:
    """A short plain-text table of the results (printed at the end of a CLI run)."""
    eps = results.get("eps", [])
    b = results["budget"]
    lines = [f"budget: {_count(b['steps'], 'optimizer step')} x batch {b['batch_size']} = "
             f"{_count(b['samples'], 'sample')} per run (all conditions)",
             f"{'condition':<10} {'pool':>6} {'accuracy':>15} {'cross-domain':>15} "
             + " ".join(f"{'PGD ' + e:>15}" for e in eps)]

    def fmt(s):
        if not s or s.get("mean") is None:
            return "-"
        # One seed has no spread to show: "± 0.000" would read as certainty.
        return f"{s['mean']:.3f} ± {s['std']:.3f}" if s.get("n", 0) > 1 else f"{s['mean']:.3f} (1 seed)"

    for cond in [c for c in results["config"]["conditions"] if c in results["conditions"]]:
        s = results["conditions"][cond]
        lines.append(f"{cond:<10} {s['pool_size']:>6} {fmt(s['accuracy']):>15} "
                     f"{fmt(s.get('cross_domain_accuracy')):>15} "
                     + " ".join(f"{fmt(s['pgd_accuracy'].get(e)):>15}" for e in eps))
    fs = results.get("few_shot") or {}
    if fs.get("ks"):
        lines.append("few-shot curve (k originals per class; same test sets):")
    for k in fs.get("ks", []):
        point = fs.get("points", {}).get(str(k)) or {}
        for cond, s in sorted(point.get("conditions", {}).items()):
            lines.append(f"{f'k={k} {cond}':<17} {fmt(s.get('accuracy')):>15} "
                         f"{fmt(s.get('cross_domain_accuracy')):>15}  ({_count(s['steps'], 'step')})")
    for v in verdict_of(results):
        low, high = v["interval"]
        lines.append(f"verdict {v['condition']} vs {v['reference']}, {v['domain']}: "
                     f"{v['delta'] * 100:+.1f} points, "
                     f"{v['confidence']:.0%} interval [{low * 100:+.1f}, {high * 100:+.1f}] "
                     f"({v['method']}, n={v['n']}): {v['call']}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
