"""Diagnosis: where the baseline's second-domain evaluation spends its time on a GPU (bench_train, one seed).

Runs ``bench/bench_train.py`` (same arguments) with every ``evaluate_model`` call of the comparison timed, its
predict batches timed (CUDA-synchronised), and the first call without attacks (the second domain) under
``torch.profiler``: the ops by self CPU time with their input shapes."""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import genmix_core.train.compare as compare  # noqa: E402
import genmix_core.train.evaluate as evaluate  # noqa: E402

real_eval, real_metrics, seen = compare.evaluate_model, evaluate.classification_metrics, []


def timed_metrics(*a, **kw):
    t = time.perf_counter()
    out = real_metrics(*a, **kw)
    print(f"  classification_metrics {time.perf_counter() - t:.3f} s", flush=True)
    return out


evaluate.classification_metrics = timed_metrics


def wrapped(model, x, y, classes, **kw):
    cross = kw.get("attacks", None) == ()
    first_cross = cross and not any(c for c, _ in seen)
    seen.append((cross, len(x)))
    hooks = []
    if cross:
        marks = {}

        def pre(mod, args):
            torch.cuda.synchronize()
            marks["t"] = time.perf_counter()

        def post(mod, args, out):
            torch.cuda.synchronize()
            print(f"  forward {tuple(args[0].shape)} {args[0].is_contiguous()} {args[0].stride()} "
                  f"{time.perf_counter() - marks['t']:.3f} s grad={torch.is_grad_enabled()}", flush=True)

        hooks = [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
    torch.cuda.synchronize()
    t = time.perf_counter()
    if first_cross:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            out = real_eval(model, x, y, classes, **kw)
            torch.cuda.synchronize()
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=18,
                                                                  max_name_column_width=40,
                                                                  max_shapes_column_width=70), flush=True)
    else:
        out = real_eval(model, x, y, classes, **kw)
        torch.cuda.synchronize()
    print(f"evaluate_model cross={cross} n={len(x)} {time.perf_counter() - t:.3f} s "
          f"benchmark={torch.backends.cudnn.benchmark} training={model.training}", flush=True)
    for h in hooks:
        h.remove()
    return out


compare.evaluate_model = wrapped
sys.argv = [str(Path(__file__).with_name("bench_train.py")), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
