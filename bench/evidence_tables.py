"""Print the Markdown tables of docs/EVIDENCE.md from a Train & Compare run folder (or its results.json).

Usage::

    python bench/evidence_tables.py RUN_DIR [--no-robust]

Prints the settings line (seeds, budget, attack), the table of every arm (mean ± std over seeds; paired
difference to the baseline of the same budget in points with its 95 % t-interval, ``*`` when it excludes 0;
PGD accuracy on the clean-correct in-domain images), the gradient-masking check, second-domain accuracy per
class, and the summed training and evaluation seconds of the runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmix_core.train import load_results, markdown_table  # noqa: E402
from genmix_core.train.tables import masking_check  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run")
    p.add_argument("--no-robust", action="store_true", help="leave the PGD columns out")
    a = p.parse_args(argv)
    res = load_results(a.run)
    cfg, b, att = res["config"], res["budget"], res.get("attack", {})
    print(f"seeds {', '.join(map(str, cfg['seeds']))} (each draws split, generation, training); base budget "
          f"{b['steps']} steps x {b['batch_size']} ({b['epochs']} epochs over {b['n_train_originals']} originals), "
          f"scales {b.get('scales')}, protocols {b.get('protocols')}; attack: PGD {att.get('pgd_steps')} steps x "
          f"{att.get('restarts')} restarts, eps {', '.join(att.get('epsilons', []))}; split: {res['split']['n_train']} "
          f"train / {res['split']['n_test']} held-out originals; second domain: {res.get('cross_domain')}")
    print()
    print(markdown_table(res, robust=not a.no_robust))
    print()
    print(masking_check(res))
    arms = res.get("arms") or res["conditions"]
    fgsm = {label: {e: round(s["fgsm_kept"][e]["mean"], 2) for e in s.get("fgsm_kept", {})}
            for label, s in arms.items() if s.get("fgsm_kept")}
    print("FGSM (clean-correct): " + " · ".join(f"{k} {v}" for k, v in fgsm.items()))
    per_class = {label: {c: round(v["mean"], 2) for c, v in s.get("cross_domain_per_class", {}).items()
                         if v.get("mean") is not None} for label, s in arms.items()}
    if any(per_class.values()):
        print("second domain per class: " + " · ".join(f"{k} {v}" for k, v in per_class.items()))
    train_s = sum(r["stats"]["seconds"] for r in res["runs"])
    eval_s = sum(r.get("eval_seconds", 0) for r in res["runs"])
    print(f"runs: {len(res['runs'])}; training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min (summed); "
          f"phases {res.get('timings')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
