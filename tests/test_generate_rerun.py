"""A finished generation run started again without ``--batch-size`` (how Train & Compare and the recipe search
resume their generation step): nothing is left to edit, no editor is loaded, and the run ends done."""

from __future__ import annotations

from genmix_core.generate import GenerateConfig, run_generation
from test_generate_fakes import make_data


def test_a_rerun_with_nothing_left_to_edit_and_no_batch_size_ends_done(tmp_path):
    data = make_data(tmp_path / "data")
    cfg = GenerateConfig(data=str(data), out=str(tmp_path / "out"), prompts=["motion blur"], no_filter=True)
    assert cfg.batch_size is None                    # the editor chooses: asked of the stand-in editor on the rerun
    first = run_generation(cfg)
    again = run_generation(cfg)
    assert (first.status, again.status) == ("done", "done")
