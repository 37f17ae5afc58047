"""The verdict of a comparison: did a condition raise or lower accuracy against the baseline, per test set?

The rule (issue 9), for every condition other than the reference (``baseline``) and every test set
(``held_out``: the photos held out of training; ``onsite``: the on-site photos):

- **Two or more seeds both conditions finished.** Pair the runs by seed (the same seed means the same split,
  the same initial weights and the same order of batches), take the differences ``d_s = acc(cond, s) −
  acc(baseline, s)``, and give their mean with a 95 % Student-t confidence interval
  (:func:`genmix_core.train.stats.paired_interval`, the rule the result tables use too).
  ``method = "paired_seeds"``.
- **One seed.** The run-to-run spread cannot be measured. Pair the two runs' answers photo by photo on the
  same test photos and bootstrap the mean difference of "correct" over the photos (``scipy.stats.bootstrap``,
  percentile interval, 9,999 resamples, seeded: the same results give the same interval;
  :func:`genmix_core.train.stats.paired_image_interval`).
  ``method = "bootstrap_images"``. This covers the chance of which photos were tested, not the chance of
  training; the report says so. Needs the per-photo answers of both runs (``predictions`` and ``targets``,
  stored since issue 9); older one-seed results get no verdict.
- ``call`` is ``"better"`` when the whole interval lies above 0, ``"worse"`` when it lies below 0, else
  ``"no_clear_difference"``.

Accuracies and differences are fractions in [0, 1] / [−1, 1]; the report turns them into percent and points.
"""

from __future__ import annotations

import numpy as np

from genmix_core.train.stats import CONFIDENCE, call_of, paired_image_interval, paired_interval

REFERENCE = "baseline"
METRIC = "accuracy"
#: Test set id in the verdict -> the key of that evaluation in a run record.
DOMAINS = {"held_out": "in_domain", "onsite": "cross_domain"}
CALLS = ("better", "worse", "no_clear_difference")


def _correct(evaluation: dict | None) -> np.ndarray | None:
    if not evaluation or "predictions" not in evaluation or "targets" not in evaluation:
        return None
    return np.asarray(evaluation["predictions"]) == np.asarray(evaluation["targets"])


def _entry(condition: str, domain: str, by_seed: dict[int, dict], ref_by_seed: dict[int, dict],
           reference: str) -> dict | None:
    key = DOMAINS[domain]
    seeds = sorted(s for s in by_seed if s in ref_by_seed
                   and (by_seed[s].get(key) or {}).get(METRIC) is not None
                   and (ref_by_seed[s].get(key) or {}).get(METRIC) is not None)
    if not seeds:
        return None
    values = [by_seed[s][key][METRIC] for s in seeds]
    ref_values = [ref_by_seed[s][key][METRIC] for s in seeds]
    out = {"condition": condition, "reference": reference, "metric": METRIC, "domain": domain,
           "seeds": seeds, "value": float(np.mean(values)), "reference_value": float(np.mean(ref_values)),
           "confidence": CONFIDENCE}
    if len(seeds) >= 2:
        iv = paired_interval(values, ref_values)
        delta, interval = iv["mean"], (iv["low"], iv["high"])
        out.update(method="paired_seeds", n=len(seeds), p_value=iv["p"])
    else:
        mine, ref = _correct(by_seed[seeds[0]][key]), _correct(ref_by_seed[seeds[0]][key])
        if mine is None or ref is None or mine.shape != ref.shape or \
                by_seed[seeds[0]][key]["targets"] != ref_by_seed[seeds[0]][key]["targets"]:
            return None                 # an older one-seed result: no per-photo answers to resample
        delta, interval = paired_image_interval(mine, ref)
        out.update(method="bootstrap_images", n=int(mine.size))
    out.update(delta=delta, interval=[interval[0], interval[1]], call=call_of(interval))
    return out


def compute_verdict(runs: list[dict], conditions: list[str], reference: str = REFERENCE) -> list[dict]:
    """The verdict entries of a comparison, in the order of ``conditions``, held-out photos before on-site.

    Args:
        runs: run records (``runs/<condition>_seed<seed>.json``: ``condition``, ``seed``, ``in_domain`` and
            optionally ``cross_domain`` evaluations).
        conditions: the conditions in the order the user asked for them.

    Returns:
        One dict per (condition, test set) that can be judged: ``condition``, ``reference``, ``metric``,
        ``domain``, ``delta``, ``interval`` ``[low, high]``, ``method``, ``call``, ``n`` (seeds or photos),
        ``seeds``, ``value`` / ``reference_value`` (mean accuracy over the paired seeds), ``confidence``
        and, for seeds, ``p_value``. Empty without a finished reference run.
    """
    by_cond: dict[str, dict[int, dict]] = {}
    for run in runs:
        if run.get("arm", run["condition"]) != run["condition"]:
            continue            # other budgets (issue #15 arms: genmix@x4, genmix@epochs) are not this verdict's
        by_cond.setdefault(run["condition"], {})[int(run["seed"])] = run
    ref = by_cond.get(reference)
    if not ref:
        return []
    entries = []
    for cond in [c for c in conditions if c != reference and c in by_cond]:
        for domain in DOMAINS:
            entry = _entry(cond, domain, by_cond[cond], ref, reference)
            if entry:
                entries.append(entry)
    return entries


def verdict_of(results: dict) -> list[dict]:
    """The verdict of a ``results.json`` dict: the stored one, else computed from its runs (older files)."""
    if isinstance(results.get("verdict"), list):
        return results["verdict"]
    conditions = list(results.get("config", {}).get("conditions") or results.get("conditions", {}))
    return compute_verdict(results.get("runs") or [], conditions)
