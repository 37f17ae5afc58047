"""Scaling of the user's path over GPUs: ``python -m genmix_core.generate`` in one process, then the same
command under ``torchrun --nproc-per-node N``, on the mixed-aspect photo set of ``bench_generate_gpu.py`` (same
model, prompts, preset). Prints one JSON object (and writes it with ``--out``).

Each run has its own output folder and edit cache, so every item is really edited. Reported per run:

* ``wall_s`` and ``items_per_s`` end to end (start-up, model load, compile, planning and the merge included);
* ``steady_items_per_s``: the sum over ranks of each rank's steady rate (per shape bucket, from the end of its
  first batch to its last item, as ``bench_generate_gpu.steady_seconds``);
* ``scaling_e2e`` and ``scaling_steady`` against the one-process run (target for 2 GPUs: >= 1.9);
* ``made_by_rank`` (from ``job.json``) and the largest pixel difference to the one-process run's images.

    python bench/bench_generate_ranks.py --nproc 2 --out bench/results/ranks.json         # a server with 2 GPUs
    python bench/bench_generate_ranks.py --tiny --photos 8 --steps 2 --batch-size 2       # CPU check (gloo)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench_generate_gpu import PROMPTS, check_steady, make_model, make_photo_set, steady_seconds  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nproc", type=int, default=max(2, torch.cuda.device_count()),
                    help="processes of the multi-process run (default: the GPU count, at least 2)")
    ap.add_argument("--model", help="a diffusers InstructPix2Pix folder (default: random SD1.5 architecture)")
    ap.add_argument("--tiny", action="store_true", help="tiny random pipeline at 64 px (CPU check of this script)")
    ap.add_argument("--photos", type=int, default=75, help="photos in the mixed-aspect set (x4 prompts = items)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=48)
    ap.add_argument("--compile", action="store_true", help="--compile in both runs")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--out", help="also write the JSON here")
    return ap.parse_args(argv)


def run(nproc: int, data: Path, model: str, work: Path, args, size: int) -> dict:
    """One CLI run (``nproc`` > 1: under torchrun on 127.0.0.1) into its own folder; returns what it measured."""
    out = work / f"run-{nproc}"
    prompts = work / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    cli = ["-m", "genmix_core.generate", "--data", str(data), "--out", str(out), "--editor", "instruct-pix2pix",
           "--model", model, "--prompts-file", str(prompts), "--steps", str(args.steps), "--size", str(size),
           "--batch-size", str(args.batch_size), "--cache", str(out / "edits")]
    cli += ["--compile"] if args.compile else []
    launcher = []
    if nproc > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher = ["-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
                    "--rdzv-endpoint", f"127.0.0.1:{port}", "--local-addr", "127.0.0.1"]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "GENMIX_WORKSPACE": str(work / "workspace"), "PYTHONPATH": path,
           "TOKENIZERS_PARALLELISM": "false"}
    print(f"{nproc} process(es): running the CLI ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *launcher, *cli], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{nproc} processes: CLI failed ({proc.returncode})\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    logs = [out / "items.jsonl", *sorted(out.glob("items.rank*.jsonl"))]
    by_rank: dict[int, list[dict]] = {}
    for log in logs:
        for line in log.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                by_rank.setdefault(int(rec.get("rank", 0)), []).append(rec)
    job = json.loads((out / "job.json").read_text())
    return {"nproc": nproc, "wall_s": round(wall, 2), "by_rank": by_rank, "out": out,
            "made_by_rank": job.get("extra", {}).get("made_by_rank", [len(by_rank.get(0, []))])}


def main(argv=None) -> dict:
    args = parse_args(argv)
    size = 64 if args.tiny else 512
    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    data = make_photo_set(work / "photos", args.photos, size * size)
    sizes = {f"{p.parent.name}/{p.stem}": Image.open(p).size for p in sorted(data.glob("*/*.png"))}
    check_steady(sizes, args.batch_size, size, ranks=args.nproc)
    model = str(Path(args.model) if args.model else make_model(work / "model", args.tiny))
    runs = [run(n, data, model, work, args, size) for n in (1, args.nproc)]
    for r in runs:
        items = sum(len(v) for v in r["by_rank"].values())
        r["items"] = items
        r["items_per_s"] = items / r["wall_s"]
        r["steady_items_per_s"] = sum(1 / steady_seconds(recs, sizes, args.batch_size, size)
                                      for recs in r["by_rank"].values())
    one, many = runs
    diffs = [np.abs(np.asarray(Image.open(p), np.int16)
                    - np.asarray(Image.open(many["out"] / p.relative_to(one["out"])), np.int16)).max()
             for p in sorted((one["out"] / "images").rglob("*.png"))]
    result = {"date": datetime.date.today().isoformat(), "gpus": torch.cuda.device_count(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__,
              "model": "tiny-random" if args.tiny else (args.model or "sd15-pix2pix-random"),
              "photos": len(sizes), "steps": args.steps, "batch_size": args.batch_size, "compile": args.compile,
              "runs": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                        if k not in ("by_rank", "out")} for r in runs],
              "scaling_e2e": round(many["items_per_s"] / one["items_per_s"], 3),
              "scaling_steady": round(many["steady_items_per_s"] / one["steady_items_per_s"], 3),
              # 0: byte for byte the same; 1: batches of other items moved float rounding by one 8-bit step
              "max_pixel_diff_vs_one_process": int(max(diffs))}
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
