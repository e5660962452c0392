"""`python -m harness.store revision "message"`: see harness.store.migrations."""

from harness.store.migrations import main

main()
