"""Everything that reads a finished store: solve rate at k, selection, scaling, plots, tables,
comparison of runs, leaderboard export, and one attempt shown."""
