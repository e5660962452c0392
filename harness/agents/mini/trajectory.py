"""mini-swe-agent's `.traj.json` for an attempt of `--agent mini`, rebuilt from the store (its
messages are the attempt's trajectory; its `info` block is kept in the attempt's details)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def is_mini_attempt(attempt: Any) -> bool:
    return isinstance(attempt.details, dict) and "mini_info" in attempt.details


def mini_trajectory(attempt: Any, instance_id: str) -> dict[str, Any]:
    """The file's content: {info, messages, trajectory_format, instance_id}, as its batch
    runner writes it. Raises ValueError for an attempt another agent made."""
    if not is_mini_attempt(attempt):
        raise ValueError("not an attempt of --agent mini: it has no mini-swe-agent trajectory")
    details = attempt.details
    return {
        "info": details["mini_info"],
        "messages": list(attempt.trajectory or []),
        "trajectory_format": details.get("trajectory_format") or "mini-swe-agent-1.1",
        "instance_id": instance_id,
    }


def write_mini_trajectory(attempt: Any, instance_id: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mini_trajectory(attempt, instance_id), indent=2))
    return path
