"""Kept for callers of the old module name: the validation pool is harness.validation.pool."""

from harness.validation.pool import (
    INFRA_TRIES,
    PATCHES,
    PoolOutcome,
    ValidationPool,
    ValidationSandboxes,
)

__all__ = ["INFRA_TRIES", "PATCHES", "PoolOutcome", "ValidationPool", "ValidationSandboxes"]
