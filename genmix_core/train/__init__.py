"""Train & Compare: the same small fine-tune with and without GenMix at a matched budget, several seeds.

Public face of the train package. Run it with ``python -m genmix_core.train`` (see ``--help``).
"""

from genmix_core.train import report
from genmix_core.train.compare import check_drawable, run_compare
from genmix_core.train.config import CompareConfig, load_config
from genmix_core.train.data import held_out_count, planned_budget
from genmix_core.train.estimate import CompareEstimate, UnitCosts, estimate_compare, unit_costs
from genmix_core.train.evaluate import DEFAULT_EPS, parse_eps
from genmix_core.train.conditions import CONDITIONS, Condition, get_condition, needs_edits, register_condition
from genmix_core.train.loop import Budget, Cancelled, TrainConfig, pick_device, train_model
from genmix_core.train.models import BACKBONES, FINETUNE_MODES, build_model
from genmix_core.train.results import RESULTS_FILE, format_table, list_train_runs, load_results

__all__ = [
    "BACKBONES", "CONDITIONS", "CompareEstimate", "UnitCosts", "check_drawable", "estimate_compare",
    "held_out_count", "pick_device", "unit_costs", "DEFAULT_EPS", "FINETUNE_MODES", "RESULTS_FILE", "Budget", "Cancelled",
    "CompareConfig", "Condition", "get_condition", "needs_edits", "register_condition", "TrainConfig", "build_model", "format_table", "list_train_runs", "load_config",
    "load_results", "parse_eps", "planned_budget", "report", "run_compare", "train_model",
]
