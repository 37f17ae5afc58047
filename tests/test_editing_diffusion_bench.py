"""The GPU benchmark script runs end to end on a CPU with a tiny pipeline and reports the same-work comparison."""

import importlib.util
import json

from genmix_core.paths import REPO_ROOT


def test_bench_runs_with_a_tiny_pipeline(capsys):
    path = REPO_ROOT / "bench" / "bench_pix2pix_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_pix2pix_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.main(["--tiny", "--steps", "2", "--res", "32", "--items", "4", "--batch", "2", "--ref-items", "1"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == json.loads(json.dumps(res))
    assert res["items"] == 4 and res["batch"] == 2 and res["steps"] == 2
    assert res["ref_s_per_edit"] > 0 and res["engine_s_per_edit"] > 0
    # The speedup is computed from the unrounded times; the reported times are rounded to 5 decimals, each off
    # by up to 5e-6 s, which moves their ratio by up to ratio x (5e-6/ref + 5e-6/engine).
    ref, eng = res["ref_s_per_edit"], res["engine_s_per_edit"]
    assert abs(res["speedup"] - ref / eng) <= 0.005 + ref / eng * (5e-6 / ref + 5e-6 / eng) + 1e-9
    # Counted, not timed: the UNet's FLOPs (FlopCounterMode) do not depend on how busy the machine is.
    assert res["unet_gflop"] > 0 and res["ideal_s_per_edit"] > 0
    # roofline fraction = ideal time / engine time. A busy CPU makes the engine slower and the fraction tiny, so it
    # is reported to 3 significant digits (relative error <= 5e-3) and the ideal time to 4 (<= 5e-4), never rounded
    # to 0; the engine time has 5 decimals (<= 5e-6 s).
    ideal, frac = res["ideal_s_per_edit"], res["roofline_fraction"]
    assert frac > 0
    assert abs(frac - ideal / eng) <= 5e-3 * frac + ideal / eng * (5e-4 + 5e-6 / eng) + 1e-12
    # Same work: the editor's edit of an item equals the reference loop's edit of it (same seed, fp32 on CPU).
    assert res["max_abs_diff_vs_reference"] <= 2
