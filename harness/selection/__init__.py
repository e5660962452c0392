"""Selection: one patch per task, chosen without the hidden tests (see base.py)."""
