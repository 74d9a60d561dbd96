"""Exact cost from the spec alone: MACs, parameters and activations; budget strings."""

from nascomp.cost.budget import BUDGET_UNITS, format_macs, parse_budget
from nascomp.cost.profile import MACS_CONVENTION, NodeCost, Profile, profile

__all__ = ["Profile", "NodeCost", "profile", "MACS_CONVENTION", "parse_budget", "format_macs", "BUDGET_UNITS"]
