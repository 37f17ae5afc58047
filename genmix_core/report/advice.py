"""Caveats and what to try next, read off a result: plain sentences for the meeting (``report.caveat.*``,
``report.next.*``). Each rule looks at one fact of ``results.json`` (test set sizes, seeds, the verdict, the
editor, which classes have on-site photos), so the same result always gives the same advice."""

from __future__ import annotations

from genmix_core.i18n import t
from genmix_core.report.charts import onsite_classes
from genmix_core.report.texts import is_diffusion, number, seed_count, uses_edits
from genmix_core.train import verdict_of

SMALL_TEST_SET = 100          # below this many photos, one photo moves accuracy by more than a point
# The H200 evidence runs (docs/EVIDENCE.md, issue 15): GenMix below the baseline on held-out photos at the base
# budget (-6.7 points, interval excluding 0) was equal at 4x the steps, so a longer run comes before any λ change.
LONGER_SCALE = 4
# A thing to try, not a finding: the earlier sample-set runs that suggested it chose λ on the test photos
# (docs/EVIDENCE.md section 5), so the user checks it on their own photos.
LOW_LAM = 0.1


def _sep(lang: str) -> str:
    return "、" if lang == "ja" else ", "


def _domains(entries: list[dict], lang: str) -> str:
    return _sep(lang).join(t(f"report.domain.{e['domain']}", lang) for e in entries)


def test_sizes(results: dict) -> dict[str, int]:
    """Photos in each test set: ``{"held_out": n, "onsite": n}`` (on-site only when it was tested)."""
    sizes = {"held_out": int(results.get("split", {}).get("n_test") or 0)}
    if results.get("cross_domain"):
        sizes["onsite"] = int(results["cross_domain"].get("n") or 0)
    return sizes


def missing_onsite_classes(results: dict) -> list[str]:
    """Classes without on-site photos (empty when on-site photos were not tested at all)."""
    if not results.get("cross_domain"):
        return []
    have = set(onsite_classes(results))
    return [c for c in results["classes"] if c not in have]


def _genmix(results: dict, call: str | None = None) -> list[dict]:
    return [e for e in verdict_of(results) if e["condition"] == "genmix" and call in (None, e["call"])]


def budget_scales(results: dict) -> list[int]:
    """The budget multipliers the run trained (``[1]`` for a run of the base budget only)."""
    return list((results.get("budget") or {}).get("scales") or results.get("config", {}).get("steps_scale") or [1])


def attack_floor(results: dict) -> bool:
    """True when the repeated attack left no photo right for any method at any strength: the attack test then
    cannot tell the methods apart (the H200 evidence runs: every head-only model at 0 % from 1/255 on)."""
    stats = [st for s in results.get("conditions", {}).values() for st in (s.get("pgd_accuracy") or {}).values()]
    return bool(stats) and all((st or {}).get("mean") == 0 for st in stats)


def caveats(results: dict, lang: str = "en") -> list[str]:
    """What the numbers cannot say: small test sets, few seeds, where GenMix did not help, the editor, the
    classes the on-site photos leave out, an unfinished run."""
    out = []
    if results.get("status") not in (None, "done"):
        out.append(t("report.caveat.unfinished", lang))
    sizes = test_sizes(results)
    if sizes and min(sizes.values()) < SMALL_TEST_SET:
        n = max(min(sizes.values()), 1)
        counts = _sep(lang).join(t(f"report.caveat.size.{d}", lang, n=n_) for d, n_ in sizes.items())
        out.append(t("report.caveat.small_data", lang, counts=counts, points=number(100 / n, strip=True)))
    n = seed_count(results)
    out.append(t({0: "report.caveat.one_run", 1: "report.caveat.one_run", 2: "report.caveat.two_runs"}.get(
        n, "report.caveat.runs"), lang, n=n))
    for call, key in (("worse", "report.caveat.worse"), ("no_clear_difference", "report.caveat.not_helped")):
        entries = _genmix(results, call=call)
        if entries:
            out.append(t(key, lang, domains=_domains(entries, lang)))
    if uses_edits(results) and not is_diffusion(results):
        out.append(t("report.caveat.style_filter", lang))
    if attack_floor(results):
        out.append(t("report.caveat.attack_floor", lang))
    missing = missing_onsite_classes(results)
    if missing:
        out.append(t("report.caveat.onsite_classes", lang, n=len(results["classes"]) - len(missing),
                     total=len(results["classes"]), missing=_sep(lang).join(missing)))
    elif not results.get("cross_domain"):
        out.append(t("report.caveat.no_onsite", lang))
    return out


def next_steps(results: dict, lang: str = "en") -> list[str]:
    """What to try next, most useful first."""
    cfg = results.get("config", {})
    out = []
    worse = _genmix(results, call="worse")
    lam_high = cfg.get("lam") if cfg.get("lam") is not None else (cfg.get("lam_range") or [0.1, 0.3])[1]
    if worse and max(budget_scales(results)) < LONGER_SCALE:
        out.append(t("report.next.longer_budget", lang, scale=LONGER_SCALE))
    if worse and lam_high > LOW_LAM:
        out.append(t("report.next.lower_lam", lang))
    if seed_count(results) < 3:
        out.append(t("report.next.more_seeds", lang))
    missing = missing_onsite_classes(results)
    if missing:
        out.append(t("report.next.onsite_classes", lang, missing=_sep(lang).join(missing)))
    elif not results.get("cross_domain"):
        out.append(t("report.next.add_onsite", lang))
    if _genmix(results, call="no_clear_difference"):
        out.append(t("report.next.more_photos", lang))
    if uses_edits(results) and not is_diffusion(results):
        out.append(t("report.next.diffusion", lang))
    genmix = _genmix(results)
    if genmix and all(e["call"] == "better" for e in genmix):
        out.append(t("report.next.confirm", lang))
    return out
