"""The ``ocop-live`` command line: the one place that wires the packages together."""
