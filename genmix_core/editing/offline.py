"""The offline editor: hand-made style filters (Pillow/numpy), no AI model, no GPU, no download.

It stands in for the diffusion edit ``E = G(I, p)`` of GenMix (method step 1) when no diffusion model is at hand:
the preview is instant on any laptop, and the whole pipeline (edit → hybrid → fractal blend → training) can be
tried end to end. It is a *style filter*, never an AI edit: ``info.is_diffusion`` is False and the UI says so.

It knows one recipe per curated prompt (the authors' 9 classification and 5 domain-adaptation prompts, our
factory set, and "rain"). A prompt is matched by its ``filter:`` id, else by its text after normalisation (case,
width, punctuation, "make it ...", "... style") against aliases that include the Japanese gloss. Any other
prompt needs a diffusion editor: :meth:`OfflineStyleEditor.can_edit` is False and ``edit_batch`` raises
``UserError("err.editor.needs_diffusion")``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from PIL import Image

from genmix_core.editing import offline_factory as fac
from genmix_core.editing import offline_recipes as art
from genmix_core.editing.base import Editor, EditorInfo

# Bump when a recipe changes its output: it is part of settings(), hence of the edit cache key.
RECIPES_VERSION = "1"


@dataclass(frozen=True)
class Recipe:
    """One style filter.

    Attributes:
        id: recipe id, used as ``filter:`` in prompt files.
        apply: ``(x (H, W, 3) float32 in [0, 1], rng) -> same shape``.
        aliases: prompt texts it renders (English forms and the Japanese gloss), matched after
            :func:`normalise_prompt`.
    """

    id: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    aliases: tuple[str, ...]


RECIPES: dict[str, Recipe] = {r.id: r for r in (
    Recipe("autumn", art.autumn, ("Autumn", "fall", "autumn leaves", "autumn foliage", "秋", "紅葉", "秋の風景")),
    Recipe("snowy", art.snowy, ("snowy", "snow", "snowing", "snowfall", "winter", "雪景色", "雪", "雪の日",
                                "冬", "雪が降る")),
    Recipe("watercolor", art.watercolor, ("watercolor art", "watercolor", "watercolour", "watercolour art",
                                          "watercolor painting", "水彩画", "水彩")),
    Recipe("sunset", art.sunset, ("sunset", "dusk", "golden hour", "evening sun", "夕焼け", "夕日", "夕暮れ")),
    Recipe("rainbow", art.rainbow, ("rainbow", "虹")),
    Recipe("aurora", art.aurora, ("aurora", "northern lights", "aurora borealis", "オーロラ")),
    Recipe("mosaic", art.mosaic, ("mosaic", "tile mosaic", "mosaic art", "モザイク画", "モザイク")),
    Recipe("ukiyo_e", art.ukiyo_e, ("ukiyo-e", "ukiyoe", "ukiyo e print", "japanese woodblock print",
                                    "woodblock print", "浮世絵")),
    Recipe("crayon_sketch", art.crayon_sketch, ("a sketch with crayon", "sketch with crayon", "crayon sketch",
                                                "crayon drawing", "crayon", "クレヨンで描いたスケッチ",
                                                "クレヨンのスケッチ", "クレヨン画", "クレヨン")),
    Recipe("graffiti", art.graffiti, ("graffiti", "street art", "グラフィティ", "落書き")),
    Recipe("retro_comic", art.retro_comic, ("retro comic", "comic", "comic book", "vintage comic",
                                            "レトロなコミック", "レトロコミック", "アメコミ")),
    Recipe("chalk", art.chalk, ("chalk drawing", "chalk", "chalkboard drawing", "blackboard", "chalkboard",
                                "チョーク画", "チョークの絵", "黒板")),
    Recipe("digital_art", art.digital_art, ("digital art", "digital painting", "デジタルアート")),
    Recipe("cartoon", art.cartoon, ("cartoon style", "cartoon", "カートゥーン調", "カートゥーン", "アニメ調")),
    Recipe("rain", art.rain, ("rain", "rainy", "raining", "rainy day", "雨", "雨の日")),
    Recipe("dim_light", fac.dim_light, ("dim lighting", "dim light", "low light", "dark lighting", "暗い照明",
                                        "暗い")),
    Recipe("glare", fac.glare, ("harsh overhead lighting with glare", "harsh overhead light with glare",
                                "harsh overhead light", "harsh overhead lighting", "glare", "overhead glare",
                                "真上からの強い照明とテカリ", "テカリ", "強い照明")),
    Recipe("motion_blur", fac.motion_blur, ("motion blur", "motion blurred", "blurred by motion",
                                            "動きによるブレ", "ブレ", "被写体ブレ")),
    Recipe("defocus", fac.defocus, ("out of focus", "defocused", "blurry", "unfocused", "ピンぼけ", "ピンボケ")),
    Recipe("low_res_noise", fac.low_res_noise, ("low-resolution noisy camera", "low resolution noisy camera",
                                                "low-resolution camera", "noisy camera", "low quality camera",
                                                "低解像度でノイズの多いカメラ", "低解像度", "ノイズ")),
    Recipe("dusty_lens", fac.dusty_lens, ("dusty camera lens", "dusty lens", "dirty lens", "dirty camera lens",
                                          "ほこりで汚れたレンズ", "汚れたレンズ")),
    Recipe("fluorescent", fac.fluorescent, ("cool fluorescent lighting", "fluorescent lighting",
                                            "fluorescent light", "cool fluorescent light", "青白い蛍光灯の光",
                                            "蛍光灯")),
    Recipe("tungsten", fac.tungsten, ("warm tungsten lighting", "tungsten lighting", "tungsten light",
                                      "warm tungsten light", "incandescent lighting", "暖色の白熱灯の光",
                                      "白熱灯")),
)}

# Instruction wrappers people type around a style ("make it snowy", "in the style of ukiyo-e", "雪景色にして").
_PREFIXES = ("make it look like ", "make it look ", "make it ", "make the image ", "make the photo ",
             "turn it into ", "turn into ", "convert it to ", "convert to ", "change it to ", "in the style of ",
             "in style of ", "as a ", "as an ", "add ", "with ", "in ", "a ", "an ", "the ")
_SUFFIXES = (" style", " effect", " look", " filter", " version", " weather", " scene",
             "にしてください", "にして", "にする", "風にして", "風", "調", "の写真", "の画像", "スタイル")
_PUNCT = re.compile(r"[\s\-_.,;:!?\"'`「」『』。、！？・]+")


def normalise_prompt(text: str) -> str:
    """Compare-form of a prompt: NFKC, case-folded, punctuation and hyphens to single spaces, trimmed."""
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", str(text)).casefold()).strip()


def _forms(text: str) -> list[str]:
    """``text`` normalised, then with instruction prefixes/suffixes peeled off one by one."""
    forms, todo = [], [normalise_prompt(text)]
    while todo:
        form = todo.pop(0)
        if not form or form in forms:
            continue
        forms.append(form)
        todo += [form[len(p):].strip() for p in _PREFIXES if form.startswith(p.strip() + " ")]
        todo += [form[:-len(s.strip())].strip() for s in _SUFFIXES
                 if form.endswith(s.strip()) and len(form) > len(s.strip())]
    return forms


_ALIASES: dict[str, str] = {normalise_prompt(a): r.id for r in RECIPES.values() for a in (r.id, *r.aliases)}


def recipe_for(prompt: Any) -> str | None:
    """The recipe id that renders ``prompt``, or None when only a diffusion model can.

    Args:
        prompt: a text (``"snowy"``, ``"make it snowy"``, ``"雪景色"``) or an object with ``text`` and
            ``filter`` attributes (:class:`genmix_core.prompts.Prompt`); a known ``filter`` id wins.
    """
    flt = getattr(prompt, "filter", None)
    if flt in RECIPES:
        return flt
    text = getattr(prompt, "text", prompt)
    if not isinstance(text, str):
        return None
    for form in _forms(text):
        if form in _ALIASES:
            return _ALIASES[form]
    return None


class OfflineStyleEditor(Editor):
    """Style filters that need no model: one recipe per curated prompt (see :data:`RECIPES`).

    Args:
        filters: extra prompt → recipe assignments, e.g. from a user's prompt set whose prompts carry a
            ``filter:`` id (``{"rusty bolts": "tungsten"}`` or an iterable of ``Prompt``). They win over
            text matching. Unknown recipe ids raise ``ValueError``.

    Determinism: each item's recipe draws from ``numpy.random.default_rng(seed)`` only, so the same
    (image, prompt, seed) gives the same pixels alone or in a batch.
    """

    def __init__(self, filters: Mapping[str, str] | Iterable[Any] | None = None) -> None:
        pairs = filters.items() if isinstance(filters, Mapping) else (
            (p.text, p.filter) for p in (filters or ()) if getattr(p, "filter", None))
        self._filters: dict[str, str] = {}
        for text, fid in pairs:
            if fid not in RECIPES:
                raise ValueError(f"filters: {fid!r} (for prompt {text!r}) is not a recipe id; "
                                 f"use one of {', '.join(RECIPES)}")
            self._filters[normalise_prompt(text)] = fid
        self.info = EditorInfo(id="offline", is_diffusion=False, label_key="editor.offline.name",
                               extra={"recipes_version": RECIPES_VERSION})

    def recipe_for(self, prompt: Any) -> str | None:
        """As module :func:`recipe_for`, after this editor's own ``filters``."""
        if getattr(prompt, "filter", None) not in RECIPES:
            own = self._filters.get(normalise_prompt(getattr(prompt, "text", prompt)))
            if own is not None:
                return own
        return recipe_for(prompt)

    def can_edit(self, prompt: Any) -> bool:
        return self.recipe_for(prompt) is not None

    def _edit_batch(self, images: list[Image.Image], prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        out = []
        for image, prompt, seed in zip(images, prompts, seeds):
            recipe = RECIPES[self.recipe_for(prompt)]
            x = np.asarray(image, dtype=np.float32) / 255.0
            rng = np.random.default_rng(int(seed) % (1 << 64))
            y = np.asarray(recipe.apply(x, rng), dtype=np.float32)
            if y.shape != x.shape:
                raise RuntimeError(f"recipe {recipe.id!r} returned {y.shape} for an input of {x.shape}")
            out.append(Image.fromarray((np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB"))
        return out

    def settings(self) -> dict[str, Any]:
        """Editor id, recipe version and the ``filters`` that differ from plain text matching.

        Hints that agree with text matching (a curated prompt with its own ``filter:``) change no pixel, so they
        are left out: choosing a different subset of curated prompts keeps the edit cache valid.
        """
        overrides = {k: v for k, v in sorted(self._filters.items()) if recipe_for(k) != v}
        return {"editor": self.info.id, "model": None, "recipes_version": RECIPES_VERSION, "filters": overrides}
