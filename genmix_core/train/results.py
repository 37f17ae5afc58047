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
``verdict`` (:mod:`genmix_core.train.verdict`, over the matched-steps runs at the base budget);
:func:`load_results` fills both in for older files where the data allows.

Since issue #15 (evidence a sceptic accepts) a file also holds ``arms`` (every condition × budget, see
:mod:`genmix_core.train.arms`: per arm the same summary as ``conditions`` plus ``arm`` and ``vs_baseline``, the
paired difference to the baseline of the same budget, per metric, from
:func:`genmix_core.train.stats.paired_interval`), ``arm_order``, ``attack`` (``pgd_steps``, ``restarts``,
``epsilons``, step size, what is attacked), ``seeds`` (what each run seed drew: split, generation, training)
and per-seed ``split``/``generation``/``data`` under ``per_seed``. Summaries gain ``fgsm_kept``/``pgd_kept``
(robust accuracy on the clean-correct images), ``gradients`` (zero input-gradient shares) and
``cross_val_accuracy`` (the second domain's validation part).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genmix_core.errors import UserError
from genmix_core.fileio import read_json
from genmix_core.jobs import list_runs
from genmix_core.train.verdict import compute_verdict, verdict_of

RESULTS_FILE = "results.json"


def _stat(values: list[float]) -> dict:
    """``{"mean", "std", "n", "values"}``; std is the sample standard deviation over seeds (0 for one seed)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0, "values": []}
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size), "values": arr.tolist()}


ATTACK_KEYS = ("fgsm_accuracy", "pgd_accuracy", "fgsm_kept", "pgd_kept")


def summarize(runs: list[dict], conditions: list[str], classes: list[str], by: str = "condition") -> dict:
    """Per condition (or per arm, ``by="arm"``): mean ± std over seeds of every metric, summed confusion
    matrices, the budget used."""
    out = {}
    for cond in conditions:
        rs = sorted((r for r in runs if r.get(by, r["condition"]) == cond), key=lambda r: r["seed"])
        if not rs:
            continue
        ind = [r["in_domain"] for r in rs]
        summary = {
            "seeds": [r["seed"] for r in rs],
            "steps": sorted({r["stats"]["steps"] for r in rs}),
            "samples": sorted({r["stats"]["samples"] for r in rs}),
            "pool_size": rs[0]["stats"]["pool_size"],
            "train_seconds": _stat([r["stats"]["seconds"] for r in rs]),
            "final_loss": _stat([r["stats"].get("final_loss") for r in rs]),
            "accuracy": _stat([m["accuracy"] for m in ind]),
            "per_class": {c: _stat([m["per_class"].get(c) for m in ind]) for c in classes},
            "confusion": np.sum([m["confusion"] for m in ind], axis=0).tolist(),
        }
        # One budget for all seeds and conditions: store it as numbers, not lists, when it holds.
        for key in ("steps", "samples"):
            if len(summary[key]) == 1:
                summary[key] = summary[key][0]
        for attack in ATTACK_KEYS:
            labels = list(ind[0].get(attack, {}))
            summary[attack] = {e: _stat([m[attack][e] for m in ind]) for e in labels}
        if any("gradients" in m for m in ind):
            summary["gradients"] = {k: _stat([m.get("gradients", {}).get(k) for m in ind])
                                    for k in ("zero_share", "zero_images")}
        for part, name in (("cross_domain", "cross_domain"), ("cross_val", "cross_val")):
            got = [r[part] for r in rs if r.get(part)]
            if got:
                summary[f"{name}_accuracy"] = _stat([m["accuracy"] for m in got])
                summary[f"{name}_per_class"] = {c: _stat([m["per_class"].get(c) for m in got]) for c in classes}
                summary[f"{name}_confusion"] = np.sum([m["confusion"] for m in got], axis=0).tolist()
        out[cond] = summary
    return out


PAIRED_METRICS = ("accuracy", "cross_domain_accuracy", "cross_val_accuracy")


def paired_differences(arms: dict, reference: str, label: str) -> dict:
    """Paired differences (over the seeds both arms have) of arm ``label`` minus arm ``reference``, per metric:
    the accuracies and, per ε, ``pgd_kept`` / ``fgsm_kept``; each a :func:`~genmix_core.train.stats.
    paired_interval` dict (95 % t-interval)."""
    from genmix_core.train.stats import paired_interval

    a, b = arms.get(label), arms.get(reference)
    if not a or not b or label == reference:
        return {}
    common = sorted(set(a["seeds"]) & set(b["seeds"]))
    if not common:
        return {}

    def pick(stat, summary):
        by_seed = dict(zip(summary["seeds"], stat["values"])) if stat and len(stat["values"]) == len(summary["seeds"]) \
            else {}
        return [by_seed.get(s) for s in common]

    out = {}
    metrics = [(m, a.get(m), b.get(m)) for m in PAIRED_METRICS]
    metrics += [(f"{k}[{e}]", a[k].get(e), b.get(k, {}).get(e)) for k in ("pgd_kept", "fgsm_kept") for e in a.get(k, {})]
    for name, sa, sb in metrics:
        va, vb = pick(sa, a), pick(sb, b)
        pairs = [(x, y) for x, y in zip(va, vb) if x is not None and y is not None]
        if pairs:
            out[name] = {**paired_interval([x for x, _ in pairs], [y for _, y in pairs]), "seeds": common}
    return out


FEW_SHOT_KEYS = ("seeds", "steps", "samples", "pool_size", "accuracy", "cross_domain_accuracy")


def summarize_few_shot(runs: list[dict], conditions: list[str], classes: list[str]) -> dict:
    """One point of the few-shot curve: per condition, mean ± std over seeds of the accuracies (and budget)."""
    full = summarize(runs, conditions, classes)
    return {c: {k: s[k] for k in FEW_SHOT_KEYS if k in s} for c, s in full.items()}


def run_key(cfg, parts: dict, condition: str, k: int | None, arm: dict | None = None) -> dict:
    """What a finished (arm, seed[, k]) run must match to be reused: the settings' fingerprint, its budget rule
    and the data parts it trains or tests on (edits only for the conditions that use them)."""
    from genmix_core.seeds import content_key
    from genmix_core.train.conditions import CONDITIONS

    config_fp = cfg.fingerprint() if k is None else cfg.few_shot_fingerprint(k)
    if arm is not None:
        config_fp = content_key({"config": config_fp, "arm": arm})
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
    return list_runs(runs_dir, "train", RESULTS_FILE)


RESULTS_VERSION = 2


def _few_shot_results(cfg, data, runs: dict[int, list[dict]]) -> dict | None:
    from genmix_core.train.fewshot import few_shot_budget

    if not cfg.few_shot:
        return None
    points = {}
    for k in cfg.few_shot:
        b = few_shot_budget(cfg, data, k)
        points[str(k)] = {"budget": {"steps": b.steps, "batch_size": b.batch_size, "samples": b.samples},
                          "n_train": int(sum(min(k, c) for c in data.train["label"].value_counts())),
                          "conditions": summarize_few_shot(runs.get(k, []), cfg.conditions, data.classes)}
    return {"ks": list(cfg.few_shot), "epochs": cfg.epochs, "conditions": list(cfg.conditions), "points": points,
            "rule": "k originals per class drawn per seed from the training split (nested over k); GenMix images "
                    "and edits only of those originals; the same held-out test set for every k; budget: "
                    "epochs over the k x classes originals, the same steps for every condition"}


def assemble_results(cfg, seeds: dict, base, arms: list, runs: list[dict], status: str,
                     few_runs: dict[int, list[dict]], not_reused: list[dict]) -> dict:
    """The whole ``results.json`` of a comparison (see the module notes) from its finished runs.

    Args:
        seeds: ``{seed: SeedData}`` (:mod:`genmix_core.train.seeddata`).
        base: the base :class:`~genmix_core.train.loop.Budget`; ``arms``: the planned arms, in table order.
    """
    import time

    from genmix_core.train.data import data_parts
    from genmix_core.train.evaluate import parse_eps

    first = seeds[cfg.seeds[0]]
    data, classes = first.data, first.data.classes
    labels = [a.label for a in arms]
    runs = sorted(runs, key=lambda r: (labels.index(r.get("arm", r["condition"]))
                                       if r.get("arm", r["condition"]) in labels else len(labels), r["seed"]))
    arm_summary = summarize(runs, labels, classes, by="arm")
    for arm in arms:
        if arm.label in arm_summary:
            arm_summary[arm.label]["arm"] = arm.to_dict()
            arm_summary[arm.label]["vs_baseline"] = paired_differences(arm_summary, arm.reference, arm.label)
    primary = [r for r in runs if r.get("arm", r["condition"]) == r["condition"]]
    per_seed = sorted(seeds.items())
    return {
        "version": RESULTS_VERSION, "kind": "train", "status": status, "updated": time.time(),
        "config": _config_dict(cfg), "fingerprint": cfg.fingerprint(), "classes": classes,
        "data": {**data_parts(data), "per_seed": {str(s): data_parts(sd.data) for s, sd in per_seed}},
        "not_reused": not_reused or [],
        "eps": [label for label, _ in parse_eps(cfg.eps)],
        "attack": {"epsilons": [label for label, _ in parse_eps(cfg.eps)], "pgd_steps": cfg.pgd_steps,
                   "restarts": cfg.pgd_restarts, "step_size": "2.5*eps/pgd_steps", "random_start": True,
                   "loss": "cross-entropy", "norm": "Linf, [0,1] pixels", "fgsm": True,
                   "on": "clean-correct in-domain test images (pgd_kept / fgsm_kept); *_accuracy over all",
                   "masking_check": "share of zero input-gradient entries and images (gradients)"},
        "seeds": {"vary": ["split", "generation" if not cfg.edits else None, "training"],
                  "per_seed": {str(s): sd.seeds for s, sd in per_seed}},
        "budget": {"steps": base.steps, "batch_size": base.batch_size, "samples": base.samples,
                   "epochs": cfg.epochs, "n_train_originals": len(data.train), "scales": list(cfg.steps_scale),
                   "protocols": list(cfg.protocols), "early_stop": cfg.early_stop,
                   "basis": "epochs over the original training images; the same steps and samples for every "
                            "condition, whatever its pool size (x scale for each arm; the epochs protocol: "
                            "epochs over each condition's own pool)"},
        "split": {"seed": cfg.split_seed, "test_fraction": cfg.test_fraction, "n_train": len(data.train),
                  "n_test": len(data.test), "n_val": 0 if data.val is None else len(data.val),
                  "by": "original image (content hash); drawn per run seed",
                  "test_images": data.test["rel"].tolist(),
                  "per_seed": {str(s): {"test_images": sd.data.test["rel"].tolist(),
                                        "cross_val_images": ([] if sd.data.cross_val is None
                                                             else sd.data.cross_val["rel"].tolist())}
                               for s, sd in per_seed}},
        "cross_domain": ({"path": cfg.test, "n": len(data.cross), "n_val": 0 if data.cross_val is None
                          else len(data.cross_val)} if data.cross is not None else None),
        "generation": (None if first.generation is None else
                       {**first.generation, "per_seed": {str(s): sd.generation for s, sd in per_seed}}),
        "counts": class_counts(data),
        "conditions": summarize(primary, cfg.conditions, classes),
        "verdict": compute_verdict(primary, cfg.conditions),
        "arms": arm_summary, "arm_order": labels,
        "runs": runs,
        "few_shot": _few_shot_results(cfg, data, few_runs or {}),
        "timings": {k: round(sum(sd.seconds.get(k, 0.0) for _, sd in per_seed), 2)
                    for k in ("prepare_s", "generation_s") if any(k in sd.seconds for _, sd in per_seed)},
    }


def _config_dict(cfg) -> dict:
    from dataclasses import asdict

    return asdict(cfg)

