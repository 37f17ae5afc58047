"""The tables of docs/EVIDENCE.md, from the summary JSON of ``bench/evidence_runs.py`` (or one run folder).

Usage::

    python bench/evidence_tables.py SUMMARY.json [MORE.json ...]             # print every table
    python bench/evidence_tables.py SUMMARY.json ... --fill docs/EVIDENCE.md  # replace the marked blocks
    python bench/evidence_tables.py RUN_DIR                                    # one compare run's table

Several summaries (say one per GPU call) are merged, a later file's study replacing an earlier one of the same
name. In EVIDENCE.md each table sits between ``<!-- evidence:NAME -->`` and ``<!-- /evidence:NAME -->``;
``--fill`` rewrites only those blocks (a block whose study is missing says so).

Every difference is the paired difference to the baseline of the same budget, over the seeds both have, in
accuracy points with its 95 % Student-t interval (``*``: the interval excludes 0; the rule of
:mod:`genmix_core.train.stats`, which the meeting report's verdict uses too). "line (test part)" is the half of
``line`` no choice was ever made on; "line (val part)" is the half kept for choosing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmix_core.train import load_results, markdown_table  # noqa: E402
from genmix_core.train.tables import difference, masking_check, mean_std  # noqa: E402

BLOCK = re.compile(r"(<!-- evidence:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /evidence:(?P=name) -->)", re.S)
SWEEP_CONDITIONS = ("baseline", "genmix", "edits", "mixup", "cutmix")
CONTROLS = ("genmix", "fractal_only", "hybrid_only", "contrast_only")


def load_studies(paths: list[str]) -> tuple[dict, dict]:
    """``(studies, meta)`` from summary files (merged in order) or ``{"run": {...}}`` from a run folder."""
    studies, meta = {}, {"mode": None, "machines": []}
    for path in paths:
        p = Path(path)
        if p.is_dir() or p.name == "results.json":
            studies["run"] = {"status": "done", "results": load_results(p), "command": "", "wall_s": None}
            continue
        data = json.loads(p.read_text())
        meta["mode"] = data.get("mode")
        meta["machines"] += data.get("machines", [])
        studies.update(data.get("studies", {}))
    return studies, meta


def _res(studies: dict, name: str) -> dict | None:
    return (studies.get(name) or {}).get("results")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(head), "|" + "---|" * len(head), *(_row(r) for r in rows)])


def finish_command(name: str) -> str:
    """The command that runs (or finishes) study ``name`` on one H200, as section 2.6 of EVIDENCE.md gives it
    (its run folder under ``.ev/``, which the GPU machine keeps between calls)."""
    data = " --fashion-mnist DIR" if name.startswith("fmnist") else ""
    return f"python bench/evidence_runs.py --device cuda --out .ev/{name} --only {name}{data} --deadline-s 470"


def not_run(name: str) -> str:
    """What a block says when its study is missing from every summary: plainly, with the command."""
    return f"_Not run yet._ To run it: `{finish_command(name)}`, then fill this page again with `--fill`."


def incomplete_note(studies: dict, name: str) -> str:
    """For a study that did not finish: which arms have fewer seeds than planned, and the command to finish;
    empty for a finished study."""
    st = studies.get(name) or {}
    if st.get("status") in (None, "done"):
        return ""
    res = st.get("results") or {}
    planned = (res.get("config") or {}).get("seeds") or []
    short = []
    for label in res.get("arm_order", []):
        seeds = sorted({r["seed"] for r in res.get("runs", []) if r.get("arm") == label})
        if len(seeds) < len(planned):
            short.append(f"`{label}` {len(seeds)} of {len(planned)} seeds ({','.join(map(str, seeds)) or 'none'})")
    return (f"**Incomplete** (study `{name}`: {st.get('status')}, cut by the time limit): "
            + ("; ".join(short) or "every arm has its seeds, the job did not finish")
            + ". An arm with one seed has no interval: its row shows that the runs work, it is not a result. "
            f"To finish: `{finish_command(name)}`.\n\n")


def _scale_label(cond: str, scale: int, protocol: str = "steps") -> str:
    return cond + ("@epochs" if protocol == "epochs" else "") + ("" if scale == 1 else f"@x{scale}")


def _find_arm(studies: dict, label: str, names: tuple[str, ...]) -> dict | None:
    for name in names:
        arm = ((_res(studies, name) or {}).get("arms") or {}).get(label)
        if arm:
            return arm
    return None


def setup(studies: dict, meta: dict) -> str:
    """One row per study: status, seeds, base budget, attack, split sizes, wall time, and the exact command."""
    rows, cmds = [], []
    for name, st in studies.items():
        res = st.get("results") or {}
        cfg, b, att, sp = res.get("config", {}), res.get("budget", {}), res.get("attack", {}), res.get("split", {})
        cross = res.get("cross_domain") or {}
        rows.append([f"`{name}`", st.get("status", "-"), ",".join(map(str, cfg.get("seeds", []))),
                     f"{b.get('steps')} × {b.get('batch_size')} (scales {b.get('scales')}, "
                     f"{'/'.join(b.get('protocols') or [])})",
                     f"PGD {att.get('pgd_steps')} × {att.get('restarts')} restarts; ε {', '.join(att.get('epsilons', []))}",
                     f"{sp.get('n_train')} / {sp.get('n_test')} {Path(str(cfg.get('data', 'lab'))).name}; "
                     f"{Path(str(cross.get('path') or cfg.get('test') or 'line')).name} "
                     f"{cross.get('n')} test + {cross.get('n_val')} val",
                     "-" if st.get("wall_s") is None else f"{st['wall_s']:.0f} s"])
        if st.get("command"):
            cmds.append(f"    # {name}\n    {st['command']}")
    gpus = sorted({m.get("gpu") or f"CPU ({m.get('cpus')} cores)" for m in meta.get("machines", [])})
    text = _table(["study", "status", "seeds", "base budget", "attack", "originals (train / held-out)", "wall"],
                  rows)
    text += f"\n\nMachine: {', '.join(gpus) or '-'}; mode: {meta.get('mode')}.\n\nCommands:\n\n" + "\n".join(cmds)
    return text


def main_table(studies: dict) -> str:
    res = _res(studies, "main")
    return incomplete_note(studies, "main") + markdown_table(res, robust=False) if res else not_run("main")


def sweep(studies: dict) -> str:
    """Line (test part) accuracy and Δ to the baseline of the same budget, per condition and budget."""
    names = ("main", "sweep16", "sweep16_mix", "protocol")
    scales = sorted({s for n in names for s in ((_res(studies, n) or {}).get("budget") or {}).get("scales", [])})
    if not scales:
        return not_run("main")
    rows, missing = [], set()
    for cond in SWEEP_CONDITIONS:
        cells = [f"`{cond}`"]
        for sc in scales:
            arm = _find_arm(studies, _scale_label(cond, sc), names)
            if not arm:
                cells += ["not run", ""]
                missing.add(sc)
                continue
            loss = (arm.get("final_loss") or {}).get("mean")
            cells += [f"{mean_std(arm.get('cross_domain_accuracy'))} (loss {loss:.2f})" if loss is not None
                      else mean_std(arm.get("cross_domain_accuracy")),
                      difference((arm.get("vs_baseline") or {}).get("cross_domain_accuracy"))]
        rows.append(cells)
    head = ["condition"] + [h for sc in scales for h in (f"line ×{sc} (final loss)", f"Δ ×{sc}")]
    absent = [n for n in names[:3] if n not in studies or studies[n].get("status") != "done"]
    text = _table(head, rows)
    if missing and absent:
        text += ("\n\n\"not run\": " + "; ".join(
            f"`{n}` {'incomplete' if n in studies else 'not run yet'} (`{finish_command(n)}`)" for n in absent))
    return text


def protocol(studies: dict) -> str:
    res = _res(studies, "protocol")
    if not res:
        return not_run("protocol")
    labels = [lab for lab in res.get("arm_order", []) if "@epochs" in lab]
    refs = sorted({res["arms"][lab]["arm"]["reference"] for lab in labels if lab in res["arms"]})
    return incomplete_note(studies, "protocol") + markdown_table(res, robust=False, arms=refs + labels)


def controls(studies: dict) -> str:
    res = _res(studies, "main")
    if not res:
        return not_run("main")
    scales = (res.get("budget") or {}).get("scales", [1])
    labels = [_scale_label(c, sc) for sc in scales for c in ("baseline",) + CONTROLS]
    return markdown_table(res, robust=False, arms=labels)


def attacks(studies: dict) -> str:
    """Robust accuracy on the clean-correct held-out images (base budget), FGSM and PGD per ε, with the
    gradient-masking check."""
    res = _res(studies, "main")
    if not res:
        return not_run("main")
    eps = res.get("eps", [])
    rows = []
    for label in [lab for lab in res.get("arm_order", []) if "@" not in lab]:
        s = res["arms"][label]
        vs = s.get("vs_baseline") or {}
        grads = (s.get("gradients") or {}).get("zero_share") or {}
        rows.append([f"`{label}`"]
                    + [f"{mean_std((s.get('fgsm_kept') or {}).get(e))} {difference(vs.get(f'fgsm_kept[{e}]'))}".strip()
                       for e in eps]
                    + [f"{mean_std((s.get('pgd_kept') or {}).get(e))} {difference(vs.get(f'pgd_kept[{e}]'))}".strip()
                       for e in eps]
                    + ["-" if grads.get("mean") is None else f"{100 * grads['mean']:.2f} %"])
    head = ["arm"] + [f"FGSM {e} (Δ)" for e in eps] + [f"PGD {e} (Δ)" for e in eps] + ["zero grad entries"]
    return _table(head, rows) + "\n\n" + masking_check(res)


def verdict(studies: dict) -> str:
    res = _res(studies, "main")
    if not res or not res.get("verdict"):
        return not_run("main")
    return verdict_rows(res)


def verdict_rows(res: dict) -> str:
    """The verdict of each condition against the baseline, per test set (the meeting report's rule)."""
    rows = [[f"`{v['condition']}`", v["domain"], f"{100 * v['delta']:+.1f}",
             f"[{100 * v['interval'][0]:+.1f}, {100 * v['interval'][1]:+.1f}]",
             "-" if v.get("p_value") is None else f"{v['p_value']:.3f}", f"{v['method']} (n={v['n']})", v["call"]]
            for v in res["verdict"]]
    return _table(["condition", "test set", "Δ points", "95 % interval", "p", "method", "call"], rows)


def prompts(studies: dict) -> str:
    res = _res(studies, "authors_prompts")
    return (incomplete_note(studies, "authors_prompts") + markdown_table(res, robust=False) if res
            else not_run("authors_prompts"))


def fmnist(studies: dict) -> str:
    """Fashion-MNIST (part 3): one table per prompt set, with its verdicts; the "line" columns are the on-site
    photos (the test set seen through another camera)."""
    parts = []
    for name, title in (("fmnist_authors", "The authors' prompts"), ("fmnist_camera", "Camera prompts")):
        res = _res(studies, name)
        if not res:
            parts.append(f"**{title}** (`{name}`): " + not_run(name))
            continue
        parts.append(f"**{title}** (`{name}`; prompts: {', '.join(res['config'].get('prompts') or [])})\n\n"
                     + incomplete_note(studies, name) + markdown_table(res, robust=False)
                     + "\n\n" + verdict_rows(res))
    return "\n\n".join(parts)


def timing(studies: dict) -> str:
    """Per study: the runs it trained itself (finished after it started, or, where no times were recorded,
    not held by an earlier study of the same folder: the others are reused), their summed training and
    evaluation seconds, and its wall time."""
    rows, seen = [], {}
    for name, st in studies.items():
        runs = (st.get("results") or {}).get("runs", [])
        # A summary without start times (or runs without finish times): a study's own runs are those no
        # earlier study of the same run folder (the same --out, so the same machine) holds.
        earlier = seen.setdefault(((st.get("results") or {}).get("config") or {}).get("out"), set())
        if st.get("started") is not None and all(r.get("finished") is not None for r in runs):
            own = [r for r in runs if r["finished"] >= st["started"]]
        else:
            own = [r for r in runs if (r.get("arm"), r.get("seed")) not in earlier]
        earlier.update((r.get("arm"), r.get("seed")) for r in runs)
        tr = sum(r.get("train_s") or 0 for r in own)
        ev = sum(r.get("eval_s") or 0 for r in own)
        phases = (st.get("results") or {}).get("timings", {})
        rows.append([f"`{name}`", f"{len(own)} of {len(runs)}", f"{tr:.0f} s", f"{ev:.0f} s",
                     ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) or "-",
                     "-" if st.get("wall_s") is None else f"{st['wall_s']:.0f} s"])
    return _table(["study", "runs trained (of its table)", "training (sum)", "evaluation (sum)",
                   "data, generation", "wall"], rows)


TABLES = {"setup": lambda s, m: setup(s, m), "main": lambda s, m: main_table(s), "sweep": lambda s, m: sweep(s),
          "protocol": lambda s, m: protocol(s), "controls": lambda s, m: controls(s),
          "attacks": lambda s, m: attacks(s), "verdict": lambda s, m: verdict(s),
          "prompts": lambda s, m: prompts(s), "fmnist": lambda s, m: fmnist(s), "timing": lambda s, m: timing(s)}


def fill(text: str, studies: dict, meta: dict) -> str:
    """``text`` with every ``<!-- evidence:NAME -->`` block replaced by table NAME (unknown names left as they
    are)."""
    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            return m.group(0)
        return f"{m.group(1)}{TABLES[name](studies, meta)}\n{m.group(4)}"

    return BLOCK.sub(repl, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="summary JSON files of bench/evidence_runs.py, or one run folder")
    p.add_argument("--fill", metavar="MARKDOWN", help="rewrite the marked blocks of this file in place")
    a = p.parse_args(argv)
    studies, meta = load_studies(a.inputs)
    if "run" in studies:            # one compare run folder: its own table, as before
        res = studies["run"]["results"]
        print(markdown_table(res))
        print()
        print(masking_check(res))
        return 0
    if a.fill:
        path = Path(a.fill)
        path.write_text(fill(path.read_text(), studies, meta))
        print(f"filled {path}")
        return 0
    for name, make in TABLES.items():
        print(f"## {name}\n\n{make(studies, meta)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
