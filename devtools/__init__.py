"""Development tools: local stack, simulator and truth model, sample feed, screenshots."""
