"""Consolidation replay: policies stepped over VM utilization on a fleet (pure, vectorised numpy)."""

from stackmeter.analysis.replay.engine import POLICY_RUNNERS, PolicyRunner, ReplayInputs, parse_policy, replay

__all__ = ["POLICY_RUNNERS", "PolicyRunner", "ReplayInputs", "parse_policy", "replay"]
