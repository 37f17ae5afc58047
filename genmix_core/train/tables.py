"""Plain-text and Markdown tables of a comparison's results: every arm, its budget, mean ± std over seeds, and
the paired difference to the baseline of the same budget with its 95 % t-interval (in accuracy points).

A difference is written ``+2.1 [−3.0, +7.2]``; it is marked ``*`` only when the interval excludes 0. Beside
the robust accuracies: the gradient-masking check (share of exactly-zero input gradients) and whether PGD
ever scored above FGSM. The plain-text table ends with the verdict lines (:mod:`genmix_core.train.verdict`).
"""

from __future__ import annotations

from genmix_core.train.verdict import verdict_of


def mean_std(stat: dict | None) -> str:
    """``0.612 ± 0.031`` over seeds (``0.612 (1 seed)`` for one, ``-`` for none)."""
    if not stat or stat.get("mean") is None:
        return "-"
    # One seed has no spread to show: "± 0.000" would read as certainty.
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("n", 0) > 1 else f"{stat['mean']:.3f} (1 seed)"


def difference(iv: dict | None) -> str:
    """A :func:`~genmix_core.train.stats.paired_interval` dict in points: ``+2.1 [−3.0, +7.2]`` (``*`` when the
    interval excludes 0)."""
    if not iv:
        return ""
    if iv.get("low") is None:
        return f"{100 * iv['mean']:+.1f}"
    mark = "*" if iv.get("excludes_zero") else ""
    return f"{100 * iv['mean']:+.1f} [{100 * iv['low']:+.1f}, {100 * iv['high']:+.1f}]{mark}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _arms(results: dict) -> list[tuple[str, dict]]:
    arms = results.get("arms") or results.get("conditions", {})
    order = results.get("arm_order") or list(results.get("config", {}).get("conditions", []))
    return [(label, arms[label]) for label in order if label in arms]


def masking_check(results: dict) -> str:
    """One line: zero input-gradient shares (mean over arms and seeds) and arms where PGD beat FGSM's accuracy
    (a stronger attack doing worse is a sign of gradient masking)."""
    zeros = [s["gradients"]["zero_share"]["mean"] for _, s in _arms(results)
             if s.get("gradients", {}).get("zero_share", {}).get("mean") is not None]
    images = [s["gradients"]["zero_images"]["mean"] for _, s in _arms(results)
              if s.get("gradients", {}).get("zero_images", {}).get("mean") is not None]
    odd = [f"{label} {e}" for label, s in _arms(results) for e in s.get("pgd_kept", {})
           if (s["pgd_kept"][e].get("mean") or 0) > (s.get("fgsm_kept", {}).get(e, {}).get("mean") or 0) + 1e-9]
    if not zeros:
        return "gradient-masking check: no attack run"
    return (f"gradient-masking check: zero input-gradient entries {100 * max(zeros):.2f} % at most (mean over "
            f"seeds, per arm), images with an all-zero gradient {100 * max(images):.1f} % at most; PGD above "
            f"FGSM: {', '.join(odd) if odd else 'never'}")


def format_table(results: dict) -> str:
    """A plain-text table of every arm (printed at the end of a CLI run)."""
    eps = results.get("eps", [])
    b = results["budget"]
    att = results.get("attack") or {}
    lines = [f"base budget: {_count(b['steps'], 'optimizer step')} x batch {b['batch_size']} = "
             f"{_count(b['samples'], 'sample')} per run (all conditions; x scale per arm)"]
    if att:
        lines.append(f"attacks: FGSM and PGD ({att['pgd_steps']} steps, {att['restarts']} restarts) on the "
                     f"clean-correct in-domain images; Δ = paired difference to the baseline of the same budget, "
                     f"points, 95 % t-interval (* excludes 0)")
    has_cross = any("cross_domain_accuracy" in s for _, s in _arms(results))
    has_val = any("cross_val_accuracy" in s for _, s in _arms(results))
    head = f"{'arm':<22} {'steps':>6} {'pool':>5} {'in-domain':>14} {'Δ':>22}"
    if has_cross:
        head += f" {'second domain':>14} {'Δ':>22}"
    if has_val:
        head += f" {'2nd dom. val':>14}"
    head += "".join(f" {'PGD ' + e:>14}" for e in eps)
    lines.append(head)
    for label, s in _arms(results):
        vs = s.get("vs_baseline") or {}
        row = f"{label:<22} {s['steps']!s:>6} {s['pool_size']:>5} {mean_std(s['accuracy']):>14} " \
              f"{difference(vs.get('accuracy')):>22}"
        if has_cross:
            row += f" {mean_std(s.get('cross_domain_accuracy')):>14} {difference(vs.get('cross_domain_accuracy')):>22}"
        if has_val:
            row += f" {mean_std(s.get('cross_val_accuracy')):>14}"
        row += "".join(f" {mean_std(s.get('pgd_kept', {}).get(e)):>14}" for e in eps)
        lines.append(row)
    lines.append(masking_check(results))
    fs = results.get("few_shot") or {}
    if fs.get("ks"):
        lines.append("few-shot curve (k originals per class; same test sets):")
    for k in fs.get("ks", []):
        point = fs.get("points", {}).get(str(k)) or {}
        for cond, s in sorted(point.get("conditions", {}).items()):
            lines.append(f"{f'k={k} {cond}':<17} {mean_std(s.get('accuracy')):>15} "
                         f"{mean_std(s.get('cross_domain_accuracy')):>15}  ({_count(s['steps'], 'step')})")
    for v in verdict_of(results):
        low, high = v["interval"]
        lines.append(f"verdict {v['condition']} vs {v['reference']}, {v['domain']}: "
                     f"{v['delta'] * 100:+.1f} points, "
                     f"{v['confidence']:.0%} interval [{low * 100:+.1f}, {high * 100:+.1f}] "
                     f"({v['method']}, n={v['n']}): {v['call']}")
    return "\n".join(lines)


def markdown_table(results: dict, robust: bool = True, arms: list[str] | None = None) -> str:
    """The Markdown table of docs/EVIDENCE.md: one row per arm (accuracies as mean ± std, Δ in points with
    the 95 % t-interval; robust accuracy on clean-correct images per ε). ``arms``: only these labels."""
    eps = results.get("eps", []) if robust else []
    chosen = [(label, s) for label, s in _arms(results) if arms is None or label in arms]
    has_cross = any("cross_domain_accuracy" in s for _, s in chosen)
    has_val = any("cross_val_accuracy" in s for _, s in chosen)
    cols = ["arm", "steps", "in-domain", "Δ in-domain"]
    cols += ["second domain (test part)", "Δ second domain"] if has_cross else []
    cols += ["second domain (val part)", "Δ val part"] if has_val else []
    cols += [f"PGD {e} (clean-correct)" for e in eps] + [f"Δ PGD {e}" for e in eps]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for label, s in chosen:
        vs = s.get("vs_baseline") or {}
        cells = [f"`{label}`", str(s["steps"]), mean_std(s["accuracy"]), difference(vs.get("accuracy"))]
        if has_cross:
            cells += [mean_std(s.get("cross_domain_accuracy")), difference(vs.get("cross_domain_accuracy"))]
        if has_val:
            cells += [mean_std(s.get("cross_val_accuracy")), difference(vs.get("cross_val_accuracy"))]
        cells += [mean_std(s.get("pgd_kept", {}).get(e)) for e in eps]
        cells += [difference(vs.get(f"pgd_kept[{e}]")) for e in eps]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
