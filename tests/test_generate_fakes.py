"""Test doubles for the generation tests: a deterministic fake editor and a tiny data folder.

The fake obeys the editor contract (same size out, output a pure function of image, prompt and seed), counts
its calls, and can be told to return black edits or to raise CUDA out-of-memory above a batch size.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from genmix_core.editing.base import Editor, EditorInfo
from genmix_core.errors import UserError


class FakeEditor(Editor):
    """Inverts the image and adds seeded noise; ``calls`` lists the batch sizes it was called with.

    Args:
        black: ``black(prompt, seed) -> bool``: return an all-black edit for these.
        oom_above: raise ``torch.cuda.OutOfMemoryError`` for batches larger than this.
        delay: seconds of sleep per image (to kill a job mid-way).
        diffusion: pose as a diffusion editor (``info.is_diffusion``), so the job edits whole batches on its
            own thread instead of one item per worker thread as it does for CPU editors.
        fail_prompt: raise ``UserError("err.editor.needs_diffusion")`` when asked to edit this prompt.
        park_after: edit this many images normally; at each later image create ``park_file`` and wait there
            until ``release_file`` exists (forever when it is None), so a test can act on a run that is
            known to be busy in the editor (kill it, start another) without guessing a time.
    """

    info = EditorInfo(id="fake", is_diffusion=False, label_key="editor.fake", model=None)

    def __init__(self, black=None, oom_above: int | None = None, delay: float = 0.0, version: int = 1,
                 diffusion: bool = False, fail_prompt: str | None = None, park_after: int | None = None,
                 park_file: str | None = None, release_file: str | None = None):
        if diffusion:
            self.info = replace(FakeEditor.info, is_diffusion=True)
        self.fail_prompt = fail_prompt
        self.black = black or (lambda prompt, seed: False)
        self.oom_above = oom_above
        self.delay = delay
        self.version = version
        self.calls: list[int] = []
        self.seen: list[tuple[str, int]] = []
        self.park_after, self.park_file, self.release_file = park_after, park_file, release_file
        self._edited = 0
        self._lock = threading.Lock()

    def _maybe_park(self) -> None:
        with self._lock:
            self._edited += 1
            park = self.park_after is not None and self._edited > self.park_after
        if not park:
            return
        Path(self.park_file).touch()
        while self.release_file is None or not Path(self.release_file).exists():
            time.sleep(0.01)

    def settings(self):
        return {**super().settings(), "version": self.version}

    def _edit_batch(self, images, prompts, seeds):
        if self.oom_above is not None and len(images) > self.oom_above:
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.fail_prompt in prompts:
            raise UserError("err.editor.needs_diffusion", prompt=self.fail_prompt)
        self.calls.append(len(images))
        out = []
        for image, prompt, seed in zip(images, prompts, seeds):
            self.seen.append((prompt, seed))
            self._maybe_park()
            time.sleep(self.delay)
            arr = np.asarray(image, dtype=np.float32)
            if self.black(prompt, seed):
                out.append(Image.new("RGB", image.size))
                continue
            key = int.from_bytes(hashlib.sha256(f"{prompt}|{seed}".encode()).digest()[:8], "big")
            noise = np.random.default_rng(key).uniform(-40, 40, arr.shape)
            out.append(Image.fromarray(np.clip(255 - arr + noise, 0, 255).astype(np.uint8)))
        return out


def make_data(root: Path, classes=("ok", "scratch"), per_class: int = 2, size=(24, 20), seed: int = 0) -> Path:
    """``root/<class>/img<i>.png`` with random content (distinct bytes per image)."""
    rng = np.random.default_rng(seed)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / label / f"img{i}.png")
    return root
