"""Seeded, declarative workload presets and their parameter table."""

from mmkit.workloads.params import PARAMS, Param
from mmkit.workloads.presets import PRESETS, Workload, workload

__all__ = ["PARAMS", "PRESETS", "Param", "Workload", "workload"]
