"""mini-swe-agent's environment protocol over our Sandbox.

Its agent calls `execute({"command": ...})` and gets `{"output", "returncode",
"exception_info"}` back; the environment raises its `Submitted` when the output's first line
is the submit marker. Here the command runs in the attempt's sandbox (bounded in time and
output) instead of a container mini-swe-agent starts: the configuration's `cwd`, `env`,
`timeout` and `interpreter` apply as in its Docker environment (stderr merged into stdout, a
timeout reported as an exception to the model); keys about starting containers (image,
run_args, ...) have no use here and are kept only for the record.
"""

from __future__ import annotations

import platform
import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.sandboxes.base import TESTBED, Sandbox

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


class SandboxEnvironmentConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    cwd: str = TESTBED
    env: dict[str, str] = {}
    timeout: int = 30
    interpreter: list[str] = ["bash", "-lc"]


class SandboxEnvironment:
    """One attempt's environment; `commands` lists what it ran, in order."""

    def __init__(self, sandbox: Sandbox, **config: Any) -> None:
        self.sandbox = sandbox
        self.config = SandboxEnvironmentConfig(**config)
        self.commands: list[str] = []

    def execute(self, action: dict, cwd: str = "", *, timeout: int | None = None
                ) -> dict[str, Any]:
        command = str(action.get("command", ""))
        self.commands.append(command)
        seconds = timeout or self.config.timeout
        # stderr joins stdout in order, as mini-swe-agent's environments give it to the model.
        script = "exec 2>&1\nexec " + shlex.join([*self.config.interpreter, command])
        result = self.sandbox.exec(  # a SandboxError propagates: the attempt is redone
            script, timeout=float(seconds), workdir=cwd or self.config.cwd,
            env=dict(self.config.env) or None,
        )
        output: dict[str, Any] = {
            "output": result.stdout + result.stderr, "returncode": result.exit_code,
            "exception_info": "",
        }
        if result.timed_out:
            output.update(
                returncode=-1,
                exception_info="An error occurred while executing the command: Command "
                f"{command!r} timed out after {seconds} seconds",
                extra={"exception_type": "TimeoutExpired", "timed_out": True},
            )
        if result.truncated:
            output.setdefault("extra", {})["output_truncated_by_sandbox"] = True
        self._raise_if_submitted(output)
        return output

    @staticmethod
    def _raise_if_submitted(output: dict[str, Any]) -> None:
        from minisweagent.exceptions import Submitted

        lines = str(output.get("output", "")).lstrip().splitlines(keepends=True)
        if output["returncode"] != 0 or not lines or lines[0].strip() != SUBMIT_MARKER:
            return
        submission = "".join(lines[1:])
        raise Submitted({
            "role": "exit", "content": submission,
            "extra": {"exit_status": "Submitted", "submission": submission},
        })

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        from minisweagent.utils.serialize import recursive_merge

        return recursive_merge(self.config.model_dump(), platform.uname()._asdict(), kwargs)

    def serialize(self) -> dict[str, Any]:
        return {"info": {"config": {
            "environment": self.config.model_dump(mode="json"),
            "environment_type": f"{type(self).__module__}.{type(self).__name__}",
        }}}
