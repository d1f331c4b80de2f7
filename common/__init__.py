"""Shared base: settings, metrics, clock, tokens, catalog model, provinces.

Imports nothing of ours.
"""
