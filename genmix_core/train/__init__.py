"""Train & Compare: the same small fine-tune with and without GenMix at a matched budget, several seeds.

Public face of the train package. Run it with ``python -m genmix_core.train`` (see ``--help``). The report
(charts, verdict in words, HTML and PDF) is :mod:`genmix_core.report`.
"""

from genmix_core.train.compare import check_drawable, run_compare
from genmix_core.train.config import CompareConfig, load_config
from genmix_core.train.data import held_out_count, planned_budget
from genmix_core.train.estimate import CompareEstimate, UnitCosts, estimate_compare, unit_costs
from genmix_core.train.evaluate import DEFAULT_EPS, parse_eps
from genmix_core.train.conditions import CONDITIONS, Condition, get_condition, needs_edits, register_condition
from genmix_core.train.loop import Budget, Cancelled, TrainConfig, pick_device, train_model
from genmix_core.train.models import BACKBONES, FINETUNE_MODES, build_model
from genmix_core.train.results import RESULTS_FILE, format_table, list_train_runs, load_results
from genmix_core.train.verdict import CALLS, compute_verdict, verdict_of

__all__ = [
    "BACKBONES", "CALLS", "CONDITIONS", "DEFAULT_EPS", "FINETUNE_MODES", "RESULTS_FILE", "Budget", "Cancelled",
    "CompareConfig", "CompareEstimate", "Condition", "TrainConfig", "UnitCosts", "build_model", "check_drawable",
    "compute_verdict", "estimate_compare", "format_table", "get_condition", "held_out_count", "list_train_runs",
    "load_config", "load_results", "needs_edits", "parse_eps", "pick_device", "planned_budget", "register_condition",
    "run_compare", "train_model", "unit_costs", "verdict_of",
]
