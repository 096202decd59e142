"""Offset planners: one contract (contract.py), one validator, many strategies."""

from mlxa.planners.contract import Buffer, Plan, PlanError, align_up, lower_bound, validate
from mlxa.planners.registry import PLANNERS, get_planner

__all__ = ["Buffer", "Plan", "PlanError", "PLANNERS", "align_up", "get_planner", "lower_bound",
           "validate"]
