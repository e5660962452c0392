"""Executors carry out the runner's units of work (a task's chunk of attempts: make them,
evaluate them, report the results back). `local` runs them on threads of this process; `ray`
on the Docker hosts of a Ray cluster. The runner alone writes the store."""
