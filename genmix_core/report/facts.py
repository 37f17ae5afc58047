"""What a report says besides the numbers: the project, the date, the prompts with their Japanese meaning and a
few example images (original → edit → final GenMix image), read from the run's own records.

Everything is found from ``results.json`` alone (its ``config`` names the data and run folders, its
``generation`` the generation run), so the page, the HTML export and the command line see the same facts.
A missing or moved folder only leaves the matching part out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from genmix_core.generate import load_config as load_generate_config
from genmix_core.generate import manifest
from genmix_core.prompts import list_prompt_sets, load_prompt_set

MAX_EXAMPLES = 4


@dataclass
class Example:
    """One row of the example grid: a training photo, its edit and the final GenMix image."""

    label: str
    prompt: str
    original: Path
    edit: Path | None
    final: Path


@dataclass
class ReportFacts:
    """Facts of one run. ``prompts``: ``(text, Japanese meaning or None)`` in the order first used."""

    project: str
    finished: str
    prompts: list[tuple[str, str | None]] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    search: dict | None = None
    """The project's latest finished recipe search on the same training photos (``search.json``), or None."""


def project_name(results: dict) -> str:
    """The project a run belongs to (``projects/<name>/runs/<run>``), else the training folder's name."""
    out = Path(results.get("config", {}).get("out") or ".")
    if out.parent.name == "runs" and out.parent.parent.name:
        return out.parent.parent.name
    data = Path(results.get("config", {}).get("data") or ".")
    parts = data.resolve().parts
    if "projects" in parts and parts.index("projects") + 1 < len(parts):
        return parts[parts.index("projects") + 1]
    return data.name or out.name


def _japanese_meanings(results: dict) -> dict[str, str]:
    """Prompt text (lower case) → Japanese meaning, from the run's prompt set, the curated sets and the
    project's own sets."""
    cfg = results.get("config", {})
    out_dir = Path(cfg.get("out") or ".")
    sets = list_prompt_sets(out_dir.parent.parent / "prompts" if out_dir.parent.name == "runs" else None)
    ref = cfg.get("prompt_set")
    if ref and Path(ref).is_file():
        try:
            sets.insert(0, load_prompt_set(ref))
        except Exception:     # a broken or moved file only loses the Japanese meanings it held
            pass
    meanings: dict[str, str] = {}
    for prompt_set in reversed(sets):          # the run's own set wins
        meanings.update({p.text.lower(): p.ja for p in prompt_set.prompts if p.ja})
    return meanings


def _resolve(path: str, base: Path) -> Path | None:
    if not isinstance(path, str) or not path:
        return None
    p = Path(path)
    return p if p.is_absolute() else base / p


def _generation(results: dict, meanings: dict[str, str]) -> tuple[list, list[Example]]:
    gen_dir = Path((results.get("generation") or {}).get("path") or "")
    if not (gen_dir / manifest.PLAN_FILE).is_file():
        return [], []
    rows = manifest.load_manifest(gen_dir)
    prompts = [(p, meanings.get(p.lower())) for p in dict.fromkeys(rows["prompt"])]
    try:
        data_dir = Path(load_generate_config(gen_dir).data)
    except Exception:
        return prompts, []
    done = rows[(rows["status"] == "done") & rows["accepted"]].sort_values(["label", "image", "prompt"])
    order = {c: i for i, c in enumerate(results.get("classes", []))}
    examples = []
    for label in sorted(done["label"].unique(), key=lambda c: order.get(c, len(order))):
        row = done[done["label"] == label].iloc[0]
        original, final = data_dir / row["image"], gen_dir / row["mix_path"]
        if not row["mix_path"]:   # a run that stored edits only (Train & Compare mixes anew): make this one now
            from genmix_core.generate.batch import mix_stored_edit

            try:
                final = mix_stored_edit(gen_dir, row["item_id"])
            except Exception:   # its edit or photo is gone: the example is left out
                continue
        edit = _resolve(row["edit_path"], gen_dir)
        if original.is_file() and final.is_file():
            examples.append(Example(label=label, prompt=row["prompt"], original=original,
                                    edit=edit if edit and edit.is_file() else None, final=final))
        if len(examples) == MAX_EXAMPLES:
            break
    return prompts, examples


def latest_search(results: dict) -> dict | None:
    """The newest finished recipe search beside the run (the same project's runs folder) that searched the same
    training folder, or None."""
    from genmix_core.search import list_search_runs, load_search

    cfg = results.get("config", {})
    out, data = Path(cfg.get("out") or "."), cfg.get("data")
    if not data or not out.parent.is_dir():
        return None
    for run_dir in list_search_runs(out.parent):
        try:
            search = load_search(run_dir)
        except Exception:          # a broken or unfinished folder only leaves the section out
            continue
        if search.get("status") == "done" and search.get("config", {}).get("data") == data:
            return search
    return None


def gather_facts(results: dict) -> ReportFacts:
    """The facts of the report of ``results`` (see the module docstring)."""
    updated = results.get("updated")
    finished = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if updated else "–"
    prompts, examples = [], []
    if results.get("generation"):
        prompts, examples = _generation(results, _japanese_meanings(results))
    return ReportFacts(project=project_name(results), finished=finished, prompts=prompts, examples=examples,
                       search=latest_search(results))
