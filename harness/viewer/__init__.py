"""`python -m harness view`: a read-only web viewer of a results store (runs, tasks, attempts,
comparisons). app.py builds the Starlette application, routes.py its pages, figures.py the
cached figures of `report`, templates/ and static/ what the browser gets. See docs/viewer.md."""
