"""The quality filter: does an edit still show its original's class? Feature similarity, a floor, GenMix's
per-class rule. Public face of the quality package.

Importing it loads no model: a backbone loads when :func:`load_extractor` is called. The generation job runs the
filter over its finished edits (:mod:`genmix_core.generate.filtering`).
"""

from genmix_core.quality.backbones import (DEFAULT_BACKBONE, FAMILIES, LITE0_SIZE, FeatureExtractor,
                                           check_backbone, find_backbone_folder, input_size, load_extractor,
                                           prepare, register_family)
from genmix_core.quality.rules import (BLACK_OR_FLAT, CLASS_OUTLIER, DEFAULT_FLOOR, DEFAULT_K, FILTER_REASONS,
                                       LOW_SIMILARITY, ClassFit, check_thresholds, cosine, fit_class, judge,
                                       normalise)
from genmix_core.quality.score import Edit, Verdict, class_fits, compute_features, score_edits
from genmix_core.quality.store import FeatureStore

__all__ = [
    "BLACK_OR_FLAT", "CLASS_OUTLIER", "DEFAULT_BACKBONE", "DEFAULT_FLOOR", "DEFAULT_K", "Edit", "FAMILIES",
    "FILTER_REASONS", "FeatureExtractor", "FeatureStore", "LITE0_SIZE", "LOW_SIMILARITY", "ClassFit", "Verdict",
    "check_backbone", "check_thresholds", "class_fits", "compute_features", "cosine", "find_backbone_folder", "fit_class", "input_size",
    "judge", "load_extractor", "prepare", "normalise", "register_family", "score_edits",
]
