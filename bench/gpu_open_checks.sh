#!/usr/bin/env bash
# The GPU measurements of issue 13, in one go (about 15 minutes on one H200), results in one folder. Session 9 ran
# it in three calls (train,precompile / cli,quality / fp8); a call returns at most ~40 MB, so archive the logs and
# JSON files, not the run folders.
#
#   bash bench/gpu_open_checks.sh OUT_DIR [SECONDS] [STEPS]
#
# STEPS: comma-separated, from train,precompile,cli,quality,preview,fp8,autotune,prefetch (default: train,precompile,cli,
# quality, in that order), so the checks can be split over calls with a time limit.
#
# 1. bench_train twice (the ≤ 20 s target; session 9: 23.5 and 21.3 s, before the quality feeder's warm-up);
# 2. the UNet compiled ahead of time (editing/precompiled.py): compile, then load in a fresh process;
# 3. the same through the user's CLI (--compile) on the mixed-aspect set, twice (the repeat is the second run
#    of the day: it loads, session 9);
# 4. the quality filter's fixed cost on the GPU: one run with and one without the filter, under py-spy when
#    it is installed;
# 5. fp8: FP8 linear layers through torch._scaled_mm (bench_unet_levers.ScaledMMLinear) against the same
#    compiled fp16 UNet, each with its difference to fp16 eager (session 9: torchao 0.18's FP8 UNet did not
#    finish compiling on PyTorch 2.11; its variants stay in bench_unet_levers.py);
# 6. preview: the Preview page's own editor (bench_generate_gpu.py --preview prepared): eager rows while a process
#    of its own compiles the photo's shape, then the compiled rows, a new editor's rows, and a profile of a warm row
#    (session 10 also tried handing diffusers' per-step noise to the GPU from pinned memory: -1 to -3 %, within
#    the noise of one run, so it was left out);
# 7. autotune: inductor's max-autotune (matmuls only, then matmuls and convolutions) against the same compiled
#    fp16 UNet, each with its difference to fp16 eager (session 11: matmuls only did not make its first call
#    within about 5-6 min or 455 s, two calls);
# 8. prefetch: bench_train with the GenMix run's fractal pool rendered in processes (the product) against on
#    threads (before session 11), alternated, twice each.
# Python may cache bytecode here (some GPU machines set PYTHONDONTWRITEBYTECODE=1 and ship torch without .pyc
# files, which makes every process compile torch's sources: 16.5 s against 6.7 s of imports, session 8); a pip
# install has the bytecode, so this is what users get. Steps stop early when SECONDS (default 840) run out.
set -uo pipefail
out=${1:?usage: bash bench/gpu_open_checks.sh OUT_DIR [SECONDS]}
budget=${2:-840}
steps=",${3:-train,precompile,cli,quality},"
want() { [[ $steps == *",$1,"* ]]; }
cd "$(dirname "$0")/.."
mkdir -p "$out"
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
step() {  # step NAME SECONDS_NEEDED COMMAND...: runs it with the time left, output to OUT/NAME.log
    local name=$1 need=$2; shift 2
    if (( $(left) < need )); then echo "$name: skipped (time)"; return; fi
    echo "== $name"
    timeout "$(left)" "$@" > "$out/$name.log" 2>&1
    echo "rc $?"; tail -n 4 "$out/$name.log"
}
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$out/pycache}
python3 -c "import torch, diffusers, pandas, scipy, sklearn" 2>/dev/null   # writes the bytecode cache once
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1
want train && for i in 1 2; do
    step "bench_train_$i" 60 python3 bench/bench_train.py --device cuda --seeds 0 --threads 8 --out "$out/train_$i"
done
want precompile && step precompile_unet 330 python3 bench/bench_unet_levers.py --batch 8 --only precompile,precompile_load \
    --aoti-dir "$out/precompiled" --out "$out/levers_precompile.jsonl"
if ! want cli; then
    :
elif grep -q '"variant": "precompile_load", "settings"' "$out/levers_precompile.jsonl" 2>/dev/null \
        && grep -q '"ms_per_sample"' "$out/levers_precompile.jsonl"; then
    step precompile_cli 400 python3 bench/bench_generate_gpu.py --photos 32 --batch-size 8 --variants compile \
        --repeat compile --no-reference --out "$out/generate_precompile.json"
else
    echo "precompile_cli: skipped (the UNet alone did not load and run)"
fi
spy=$(command -v py-spy || ls .site/bin/py-spy 2>/dev/null || true)   # .site: the GPU machine's wheel folder
want quality && for run in filter no-filter; do
    flag=$([ "$run" = no-filter ] && echo --no-filter || true)
    cmd=(python3 -m genmix_core.generate --data sample_data/lab --prompt-set factory
         --prompts "dim lighting,harsh overhead lighting with glare,motion blur,out of focus" $flag
         --out "$out/quality_$run")
    if [ -n "$spy" ]; then
        step "quality_$run" 60 /usr/bin/time -f "wall %e s, CPU %U + %S s" \
            "$spy" record -r 50 -f raw -o "$out/quality_$run.pyspy" -- "${cmd[@]}"
    else
        step "quality_$run" 60 /usr/bin/time -f "wall %e s, CPU %U + %S s" "${cmd[@]}"
    fi
done
want preview && step preview_prepared 200 python3 bench/bench_generate_gpu.py --photos 8 --variants "" --no-reference \
    --preview prepared --profile-preview --work "$out/preview_work" --out "$out/preview_prepared.json"
want fp8 && step fp8_unet 200 python3 bench/bench_unet_levers.py --batch 8 \
    --only compile_cl_qkv_fp8_scaled_mm,compile_cl_qkv_err,eager_fp8_scaled_mm --budget "$(left)" \
    --variant-timeout 300 \
    --out "$out/levers_fp8.jsonl"
want prefetch && for p in processes threads processes threads; do
    n=$(( ${n:-0} + 1 ))
    step "bench_train_prefetch_${p}_$n" 60 python3 bench/bench_train.py --device cuda --seeds 0 --threads 8 \
        --fractal-prefetch "$p" --out "$out/train_prefetch_$n"
done
want autotune && step autotune_unet 200 python3 bench/bench_unet_levers.py --batch 8 \
    --only compile_cl_qkv_err,compile_cl_qkv_max_autotune_gemm,compile_cl_qkv_max_autotune --budget "$(left)" \
    --variant-timeout 420 --out "$out/levers_autotune.jsonl"
echo "done in $(( $(date +%s) - start )) s; results in $out"
