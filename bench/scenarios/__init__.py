"""One module per scenario; each returns flat figures (name → number) for the report."""
