"""The LLM selectors of harness/selection: `repro` (reproduction tests a model writes from the
issue) and `judge` (a model picks among the top candidates). See docs/selection-llm.md."""
