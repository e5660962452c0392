"""A mini-swe-agent agent class of your own, run by the harness with `--agent mini`.

`StepsLeftAgent` is mini-swe-agent's DefaultAgent that also offers its templates the number of
model calls left before its step limit, `{{ steps_left }}`, so an observation template can
remind the model of it. Everything else (prompts, parser, limits, submission) is DefaultAgent's.

    PYTHONPATH=examples/mini_agent_class python -m harness run --agent mini \\
        --agent-set agent.agent_class=steps_left_agent.StepsLeftAgent \\
        --agent-set 'model.observation_template=<returncode>{{output.returncode}}</returncode>
    <output>{{output.output}}</output> ({{steps_left}} steps left)' ...

The class is named by import path (`module.Class`), exactly as mini-swe-agent's own
`--agent-class` names one; the module must be importable where attempts run (PYTHONPATH, or an
installed package; on a Ray cluster, on every node).
"""

from __future__ import annotations

from typing import Any

from minisweagent.agents.default import DefaultAgent


class StepsLeftAgent(DefaultAgent):
    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        limit = self.config.step_limit
        left = max(0, limit - self.n_calls) if limit > 0 else "unlimited"
        return super().get_template_vars(steps_left=left, **kwargs)
