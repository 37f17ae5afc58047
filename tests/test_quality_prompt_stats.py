"""Prompt evidence: prompt_stats.csv against values computed by hand on a small constructed run table, the
ranking a recipe search can use, and the file a real run writes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from genmix_core.generate import STATS_COLUMNS, rank_prompts, read_prompt_stats
from genmix_core.generate.prompt_stats import write_prompt_stats

NAN = float("nan")
#: (prompt, status, accepted, reason, similarity): what load_manifest gives for a small run.
ROWS = [
    ("snowy", "done", True, "", 0.90),
    ("snowy", "done", True, "", 0.60),
    ("snowy", "done", False, "low_similarity", 0.20),
    ("snowy", "failed", False, "black_or_flat", NAN),
    ("dim lighting", "done", True, "", 0.98),
    ("dim lighting", "done", False, "rejected_by_user", 0.70),    # the user's no: counted as not accepted
    ("dim lighting", "done", False, "class_outlier", 0.50),
    ("dim lighting", "pending", False, "pending", NAN),            # not finished: left out
    ("NA", "done", True, "", 1.00),                                 # changes nothing: diversity 0
]


def _manifest() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["prompt", "status", "accepted", "reason", "similarity"])


def test_prompt_stats_csv_matches_values_computed_by_hand(tmp_path):
    write_prompt_stats(tmp_path, _manifest())
    stats = read_prompt_stats(tmp_path).set_index("prompt")
    assert list(stats.reset_index().columns) == list(STATS_COLUMNS)
    assert list(stats.index) == ["snowy", "dim lighting", "NA"]          # first-seen order; "NA" stays text
    snowy, dim, na = stats.loc["snowy"], stats.loc["dim lighting"], stats.loc["NA"]
    # snowy: 4 finished (3 done + 1 failed), 2 accepted
    assert (snowy["items"], snowy["accepted"], snowy["acceptance_rate"]) == (4, 2, 0.5)
    assert snowy["mean_similarity"] == pytest.approx(round((0.9 + 0.6 + 0.2) / 3, 4))
    assert snowy["diversity"] == pytest.approx(round((math.sqrt(2 - 1.8) + math.sqrt(2 - 1.2)) / 2, 4))
    assert (snowy["rejected_low_similarity"], snowy["rejected_black_or_flat"], snowy["rejected_class_outlier"]) \
        == (1, 1, 0)
    # dim lighting: 3 finished, 1 accepted; the pending item counts nowhere
    assert (dim["items"], dim["accepted"], dim["acceptance_rate"]) == (3, 1, pytest.approx(0.3333))
    assert dim["mean_similarity"] == pytest.approx(round((0.98 + 0.7 + 0.5) / 3, 4))
    assert dim["diversity"] == pytest.approx(round(math.sqrt(2 - 1.96), 4))
    assert dim["rejected_class_outlier"] == 1 and dim["rejected_low_similarity"] == 0
    assert (na["items"], na["acceptance_rate"], na["diversity"]) == (1, 1.0, 0.0)


def test_a_prompt_without_scores_has_empty_means_and_ranking_puts_useful_prompts_first():
    df = _manifest()
    df = pd.concat([df, pd.DataFrame([("sunset", "failed", False, "failed", NAN)], columns=df.columns)])
    from genmix_core.generate import prompt_stats

    stats = prompt_stats(df)
    sunset = stats.set_index("prompt").loc["sunset"]
    assert sunset["items"] == 1 and np.isnan(sunset["mean_similarity"]) and np.isnan(sunset["diversity"])
    # acceptance x diversity: snowy 0.5 x 0.671 = 0.34, dim lighting 0.333 x 0.2 = 0.07, NA 1 x 0 = 0; sunset last
    assert rank_prompts(stats) == ["snowy", "dim lighting", "NA", "sunset"]


def test_a_run_writes_prompt_stats_from_its_manifest(tmp_path):
    from genmix_core.generate import manifest, prompt_stats, run_generation
    from test_quality_filter import ScriptedEditor, cfg, sample_photos

    data = sample_photos(tmp_path / "data", per_class=3)
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same", "noise"]), editor=ScriptedEditor())
    written = read_prompt_stats(out)
    expected = prompt_stats(manifest.load_manifest(out)).round(4)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert written.set_index("prompt")["acceptance_rate"].to_dict() == {"same": 1.0, "noise": 0.0}
    manifest.set_accepted(out, "ok/lab_ok_000__noise", True)              # a review decision updates it at once
    assert read_prompt_stats(out).set_index("prompt").loc["noise", "accepted"] == 1
