"""Shared base: settings, metrics, clock, tokens, catalog model. Imports nothing of ours."""
