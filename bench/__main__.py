"""``python -m bench``: run every scenario and write bench/results/."""

from bench.run import main

main()
