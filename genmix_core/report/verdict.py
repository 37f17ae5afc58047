"""The verdict in words: one sentence per condition and test set, in the reader's language.

The rule itself (paired differences over seeds, or a bootstrap over test photos for one seed, and the call)
lives with the results it is computed from, in :mod:`genmix_core.train.verdict`; this module only words it.
"""

from __future__ import annotations

from genmix_core.i18n import t
from genmix_core.report.charts import condition_label
from genmix_core.report.texts import pct, points
from genmix_core.train import verdict_of

DOMAIN_KEYS = {"held_out": "report.domain.held_out", "onsite": "report.domain.onsite"}


def _order(entries: list[dict]) -> list[dict]:
    """GenMix first (the question of the meeting), then the other conditions in the order asked."""
    return sorted(entries, key=lambda e: e["condition"] != "genmix")


def sentence(entry: dict, lang: str = "en") -> str:
    """One verdict entry as a sentence, e.g. "On the on-site photos, GenMix lowered accuracy from 61 % to 31 %
    (−30 points; larger than the run-to-run spread over 3 training runs; ...)."."""
    clear = entry["call"] != "no_clear_difference"
    low, high = entry["interval"]
    if entry["method"] == "paired_seeds":
        why = t(f"report.why.seeds.{'clear' if clear else 'unclear'}", lang, n=entry["n"],
                low=points(low), high=points(high))
    else:
        why = t(f"report.why.images.{'clear' if clear else 'unclear'}", lang, n=entry["n"],
                low=points(low), high=points(high))
    return t(f"report.verdict.{entry['call']}", lang, domain=t(DOMAIN_KEYS[entry["domain"]], lang),
             condition=condition_label(entry["condition"], lang),
             reference=condition_label(entry["reference"], lang),
             ref=pct(entry["reference_value"], lang), value=pct(entry["value"], lang),
             delta=points(entry["delta"]), why=why)


def verdict_lines(results: dict, lang: str = "en") -> list[tuple[str, str | None]]:
    """``(sentence, call)`` for every verdict entry, GenMix first; without a verdict, one sentence saying why
    (call None)."""
    entries = verdict_of(results)
    if entries:
        return [(sentence(e, lang), e["call"]) for e in _order(entries)]
    conds = results.get("conditions", {})
    asked = results.get("config", {}).get("conditions") or list(conds)
    if "baseline" not in asked:
        why = "no_baseline"
    elif len(asked) == 1:
        why = "only_reference"
    elif "baseline" in conds and len(conds) > 1:     # both finished, yet nothing to pair: an older one-seed file
        why = "no_answers"
    else:
        why = "pending"
    return [(t(f"report.verdict.{why}", lang), None)]


def verdict_sentences(results: dict, lang: str = "en") -> list[str]:
    """Every verdict sentence of a result (see :func:`verdict_lines`)."""
    return [text for text, _ in verdict_lines(results, lang)]
