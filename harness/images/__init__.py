"""Image supply: where a task's environment comes from, apart from running sandboxes on it.

Our own builds in three tiers (`debootstrap.py` base, `build.py` env and instance, with
packages from a host-side `wheelhouse.py`, per `specs.py` and `environments/*.yaml`), or
prebuilt images pulled from a registry (`prebuilt.py`, `registry.py`, named by
`image_names.py`, adapted by `official_layout.py`); `build_log.py` keeps the builds' output off
the console. Running sandboxes is `harness/sandboxes/`; `harness/backends/` wires the two.
"""
