"""The benchmark harness: real stack, side-by-side scenarios, a results table and plots.

Run it with ``make bench`` or ``python -m bench``; ``BENCH_QUICK=1`` is the short mode.
"""
