"""`--agent mini`: mini-swe-agent's own agent class and configuration, k times per task, in our
sandboxes and through our model layer (pip install 'harness[mini]').

- config.py: the installed version (refused outside the tested range), its configuration
  merged from its bundled SWE-bench file, the user's file and key=value overrides.
- environment.py: its environment protocol over our Sandbox.
- model.py: its model classes with the call itself routed through harness.models.llm.
- agent.py: one attempt = one run of its agent; exit statuses mapped to our outcomes.
- trajectory.py: its `.traj.json` rebuilt from what the store keeps.
"""
