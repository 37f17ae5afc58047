"""Planning a generation run: the originals of a data folder, their (image, prompt) items and per-item seeds.

Every item gets its own seed ``item_seed(job_seed, image_hash, prompt)`` (style.md habit 5), so its edit never
depends on which other items share its batch or on the order of work; its mix parameters and its one retry
after a bad edit come from seeds derived the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genmix_core.errors import UserError
from genmix_core.generate import manifest
from genmix_core.generate.sources import SourceImage
from genmix_core.paths import MAX_NAME_BYTES, fit_name, safe_name, utf8_len
from genmix_core.seeds import item_seed

_RETRY_TAG = "\x1fretry"
_MIX_TAG = "\x1fmix"
_PICK_TAG = "\x1fprompts"


@dataclass(frozen=True)
class Item:
    """One planned (image, prompt) edit. ``id`` is ``<class>/<image-stem>__<prompt-slug>`` (unique).

    The id names the output file ``images/<id>.png``; when ``<image-stem>__<prompt-slug>.png`` would pass the
    255 bytes a file name may have (a 64-character Japanese stem is 192 bytes), the stem is cut and marked
    with a hash of the whole stem (:func:`genmix_core.paths.fit_name`). Ids that fit are never changed.
    """

    id: str
    source: SourceImage
    prompt: str
    seed: int

    @property
    def mix_rel(self) -> str:
        return f"{manifest.IMAGES_DIR}/{self.id}.png"

    def to_plan(self) -> dict[str, Any]:
        return {"id": self.id, "image": self.source.rel, "label": self.source.label, "prompt": self.prompt,
                "seed": self.seed, "image_hash": self.source.image_hash, "mix_path": self.mix_rel}


def prompt_slug(prompt: str) -> str:
    """A short file-name part for a prompt: lower case, words joined by ``-`` (Unicode letters kept)."""
    slug = re.sub(r"[^\w]+", "-", prompt.lower(), flags=re.UNICODE).strip("-_")[:40].strip("-_")
    return safe_name(slug, fallback="p" + hashlib.sha256(prompt.encode()).hexdigest()[:8])


def _file_stem(stem: str, slug: str, extra: str = "") -> str:
    """``<stem>__<slug><extra>``, the stem cut (and hash-marked) only when the ``.png`` would not fit a file name."""
    name = f"{stem}__{slug}{extra}"
    if utf8_len(name) + len(".png") <= MAX_NAME_BYTES:
        return name
    return fit_name(stem, f"__{slug}{extra}", max_bytes=MAX_NAME_BYTES - len(".png"))


def plan_items(sources: Sequence[SourceImage], prompts: Sequence[str], *, seed: int,
               per_image: int | None = None) -> list[Item]:
    """Plan the (image, prompt) items of a run, grouped by image.

    Args:
        sources: the originals (see :func:`genmix_core.generate.sources.scan_data`).
        prompts: the prompt texts, in order.
        seed: job seed.
        per_image: draw this many prompts per image (without replacement) from a generator seeded by
            ``item_seed(seed, image_hash, "\\x1fprompts")``; None takes every prompt.

    Returns:
        Items in (source order, prompt order). An item's seed and prompt choice depend only on the job seed,
        the image bytes and the prompt, never on the other images or prompts' positions in the batch.
    """
    items: list[Item] = []
    used: set[str] = set()
    slugs = {p: prompt_slug(p) for p in prompts}
    for src in sources:
        chosen = list(prompts)
        if per_image is not None and per_image < len(prompts):
            rng = np.random.default_rng(item_seed(seed, src.image_hash, _PICK_TAG))
            picked = set(rng.choice(len(prompts), size=per_image, replace=False).tolist())
            chosen = [p for i, p in enumerate(prompts) if i in picked]
        label = safe_name(src.label, fallback="class")
        stem = safe_name(Path(src.rel).stem, fallback="image", max_bytes=None)
        for prompt in chosen:
            item_id = f"{label}/{_file_stem(stem, slugs[prompt])}"
            if item_id.lower() in used:  # same stem with another extension, or two prompts with one slug
                extra = "-" + hashlib.sha256(f"{src.rel}\x1f{prompt}".encode()).hexdigest()[:8]
                item_id = f"{label}/{_file_stem(stem, slugs[prompt], extra)}"
            used.add(item_id.lower())
            items.append(Item(item_id, src, prompt, item_seed(seed, src.image_hash, prompt)))
    return items


def include_only(items: Sequence[Item], include: Sequence[str], data_dir: str) -> list[Item]:
    """The planned items of the images listed in ``include`` (paths relative to the data folder).

    Filtering after planning keeps every item's id, seed and prompt choice what it is in a full run.

    Raises:
        UserError: ``err.gen.include_unknown`` when a listed path is no image of the data folder.
    """
    wanted = set(include)
    unknown = sorted(wanted - {it.source.rel for it in items})
    if unknown or not wanted:
        raise UserError("err.gen.include_unknown", path=str(data_dir), count=len(unknown),
                        paths=", ".join(unknown[:5]) or "(none)")
    return [it for it in items if it.source.rel in wanted]


def retry_seed(job_seed: int, item: Item) -> int:
    """The seed of the one retry after a bad edit (derived, so a resumed retry is identical too)."""
    return item_seed(job_seed, item.source.image_hash, item.prompt + _RETRY_TAG)


def mix_rng(job_seed: int, item: Item) -> np.random.Generator:
    """The item's own generator for its mix parameters (independent of the edit seed and of retries)."""
    return np.random.default_rng(item_seed(job_seed, item.source.image_hash, item.prompt + _MIX_TAG))
