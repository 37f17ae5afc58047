"""The UNet compiled ahead of time per shape (editing/precompiled.py), through a real tiny diffusers pipeline.

A first process compiles and saves; a fresh process loads the saved function and traces nothing; both give the
eager pipeline's images. On the CPU here (the product compiles on CUDA only), with the tests' tiny UNet.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from genmix_core.editing import precompiled
from genmix_core.editing.diffusion import apply_speed_options
from genmix_core.editing.testing import make_tiny_pix2pix

# Compiling on the CPU builds C++: a PC without a compiler (the product compiles on CUDA GPUs only) skips these.
_CXX = sys.platform != "win32" and any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++"))
pytestmark = [pytest.mark.skipif(not precompiled.available(), reason="this PyTorch has no aot_compile"),
              pytest.mark.skipif(not _CXX, reason="no C++ compiler for torch.compile on the CPU")]

REPO = Path(__file__).resolve().parents[1]

# Loads the tiny pipeline, compiles (or loads) its UNet ahead of time, edits one picture, prints the events and
# writes the edit: the same code for the first process and the fresh one.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from PIL import Image
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from genmix_core.editing.diffusion import apply_speed_options

    torch.set_num_threads(1)
    folder, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(folder, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    events = []
    if mode == "precompile":
        apply_speed_options(pipe, compile=True, precompile=True, events=events)
    image = Image.fromarray((np.indices((32, 32)).sum(0) * 4 % 256).astype(np.uint8)).convert("RGB")
    result = pipe("snowy", image=image, num_inference_steps=2, output_type="np",
                  generator=torch.Generator().manual_seed(3)).images[0]
    np.save(out, result)
    print("EVENTS " + json.dumps(events))
""")


def _run(folder, out, mode, cache):
    env = {"PYTHONPATH": str(REPO), "TORCHINDUCTOR_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin",
           "HOME": str(cache.parent), "OMP_NUM_THREADS": "1", "GENMIX_WORKSPACE": str(cache.parent / "ws")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder), str(out), mode], capture_output=True,
                          text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("EVENTS ")][-1]
    return np.load(out), json.loads(line[7:])


def test_a_later_process_loads_the_compiled_unet_and_gives_the_same_edit(tmp_path):
    folder = make_tiny_pix2pix(tmp_path / "p2p")
    cache = tmp_path / "cache" / "torch_compile"
    eager, none = _run(folder, tmp_path / "eager.npy", "eager", cache)
    first, made = _run(folder, tmp_path / "first.npy", "precompile", cache)
    saved = sorted((cache / "precompiled").glob(f"*{precompiled.SUFFIX}"))
    # one input signature (2 steps, the 3 guidance branches in one batch): one function compiled and saved
    assert none == [] and [e["event"] for e in made] == ["precompiled"] and len(saved) == 1
    assert saved[0].stem == made[0]["key"] and saved[0].stat().st_size < 20 * 2**20   # no weights inside
    again, loaded = _run(folder, tmp_path / "again.npy", "precompile", cache)
    assert [e["event"] for e in loaded] == ["precompile_loaded"] and loaded[0]["key"] == made[0]["key"]
    assert np.abs(first - eager).max() < 1e-4 and np.abs(again - eager).max() < 1e-4


def test_the_key_of_a_unet_built_in_code_is_the_same_in_every_process(tmp_path):
    # A later process finds the saved function only if it computes the same file name (hash seeds differ).
    code = ("import torch; from genmix_core.editing.testing import _tiny_components; "
            "from genmix_core.editing.precompiled import PrecompiledForward; "
            "f = PrecompiledForward(_tiny_components(8, 0)['unet'], '.'); "
            "print('KEY', f.key(torch.zeros(3, 8, 4, 4), torch.tensor(1.0), torch.zeros(3, 77, 32)))")
    keys = set()
    for seed in ("1", "2", "3"):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}, check=True)
        keys |= {ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("KEY ")}
    assert len(keys) == 1


def test_a_damaged_file_is_compiled_again_and_a_call_it_cannot_take_goes_through_torch_compile(tmp_path,
                                                                                              monkeypatch):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    torch.manual_seed(0)
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(make_tiny_pix2pix(tmp_path / "p2p"),
                                                                  safety_checker=None)
    unet = pipe.unet
    events = []
    forward = precompiled.install(unet, tmp_path / "pc", events=events)
    x, t, ctx = torch.randn(3, 8, 4, 4), torch.tensor(10.0), torch.randn(3, 77, unet.config.cross_attention_dim)
    with torch.no_grad():   # grad mode is part of the key (the guards differ)
        key = forward.key(x, t, ctx)
    (tmp_path / "pc").mkdir()
    (tmp_path / "pc" / f"{key}{precompiled.SUFFIX}").write_bytes(b"not a compiled function")
    with torch.no_grad():
        expected = type(unet).forward(unet, x, t, encoder_hidden_states=ctx, return_dict=False)[0]
        got = unet(x, t, encoder_hidden_states=ctx, return_dict=False)[0]
        # Extra conditioning (SDXL's added_cond_kwargs ...) is not in the compiled signature: such calls go
        # through a plain torch.compile of the class's forward, made once (recorded here; compiling it for real on
        # this CPU would only repeat what the first call did).
        made = []
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: made.append((fn, kw)) or fn)
        extra = [unet(x, t, encoder_hidden_states=ctx, timestep_cond=None,
                      cross_attention_kwargs={"scale": 1.0}, return_dict=False)[0] for _ in range(2)]
    assert made == [(type(unet).forward, {"dynamic": False})]
    assert [e["event"] for e in events] == ["precompile_reload_failed", "precompiled", "precompile_not_used"]
    assert torch.allclose(got, expected, atol=1e-5)
    assert all(torch.allclose(e, expected, atol=1e-5) for e in extra)
    assert (tmp_path / "pc" / f"{key}{precompiled.SUFFIX}").stat().st_size > 1000   # replaced by a good one


def test_a_failing_precompile_falls_back_to_the_eager_unet(tmp_path, monkeypatch):
    from PIL import Image

    from genmix_core.editing.pix2pix import InstructPix2PixEditor

    ed = InstructPix2PixEditor(str(make_tiny_pix2pix(tmp_path / "p2p")), steps=1, size=32)
    image = Image.fromarray((np.indices((32, 32)).sum(0) * 4 % 256).astype(np.uint8)).convert("RGB")
    plain = ed.edit(image, "snowy", 5)
    unet = ed.load().unet

    def fails(self, *args):
        raise torch._dynamo.exc.PackageError("ID_MATCH guard cannot be serialized.")

    monkeypatch.setattr(precompiled.PrecompiledForward, "_compile", fails)
    precompiled.install(unet, tmp_path / "pc", events=ed.events)
    ed.speed["compile"] = True
    again = ed.edit(image, "snowy", 5)
    assert "forward" not in unet.__dict__ and ed.load().unet is unet and ed.speed["compile"] is False
    assert [e["event"] for e in ed.events] == ["compile_failed"] and "guard" in ed.events[0]["error"]
    assert np.array_equal(np.asarray(plain), np.asarray(again))
