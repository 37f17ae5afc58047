"""Arms of a comparison: a condition trained under one budget (protocol × scale), each a row of the tables.

Issue #15 asked whether a GenMix result survives a change of budget. So the compare job trains every condition
at each budget of ``--steps-scale`` (1, 4, 16 × the base budget: the same optimizer steps for every condition
at each scale), and, with ``--protocols steps,epochs``, adds the authors' protocol as a separate, labelled
family: the same number of *epochs* over each condition's own pool (originals + GenMix images), so a condition
with a k-fold pool trains k-fold steps (the comparison the method's critics call unfair; shown, not hidden).

Labels: ``genmix`` (matched steps, scale 1: the arm ``results["conditions"]`` has always held), ``genmix@x4``
(matched steps, 4×), ``genmix@epochs`` and ``genmix@epochs@x4`` (authors' protocol). Every arm is paired with
the baseline arm of the same scale in the matched-steps family: for conditions without extra images the
epochs protocol gives the same budget, so those arms are not trained twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from genmix_core.train.conditions import get_condition
from genmix_core.train.loop import Budget

REFERENCE = "baseline"


@dataclass(frozen=True)
class Arm:
    """One condition under one budget rule.

    Attributes:
        condition: a name from ``CONDITIONS``.
        protocol: ``"steps"`` (matched steps) or ``"epochs"`` (the authors' epochs over the condition's pool).
        scale: multiplier of the base budget (steps) or of the epochs (epochs protocol).
    """

    condition: str
    protocol: str = "steps"
    scale: int = 1

    @property
    def label(self) -> str:
        return (self.condition + ("@epochs" if self.protocol == "epochs" else "")
                + ("" if self.scale == 1 else f"@x{self.scale}"))

    @property
    def reference(self) -> str:
        """Label of the arm it is paired with: the baseline at the same scale, matched steps."""
        return Arm(REFERENCE, "steps", self.scale).label

    @property
    def is_primary(self) -> bool:
        """The matched-steps arm at the base budget (kept as ``results["conditions"]``)."""
        return self.protocol == "steps" and self.scale == 1

    def budget(self, base: Budget, pool_size: int, epochs: int) -> Budget:
        """Its budget: ``scale`` × the shared base budget, or ``scale × epochs`` passes over ``pool_size``."""
        if self.protocol == "epochs":
            return Budget.for_epochs(pool_size, epochs * self.scale, base.batch_size)
        return Budget(steps=base.steps * self.scale, batch_size=base.batch_size)

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label, "reference": self.reference}


def plan_arms(conditions: list[str], scales: list[int], protocols: list[str]) -> list[Arm]:
    """Every arm to train, grouped by family and scale, conditions in the order asked."""
    arms = [Arm(c, "steps", s) for s in scales for c in conditions] if "steps" in protocols else []
    if "epochs" in protocols:
        # Only conditions whose pool is larger than the originals get a budget of their own under this rule.
        arms += [Arm(c, "epochs", s) for s in scales for c in conditions if get_condition(c).needs_edits]
    return arms


def file_stem(arm: Arm, seed: int) -> str:
    """``runs/<stem>.json`` of one (arm, seed): ``genmix_seed0`` for the primary arms (the name they always
    had), ``genmix@x4_seed0`` and so on for the others."""
    return f"{arm.label}_seed{seed}"
