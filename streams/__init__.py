"""Write side: faust agents that turn view and order events into Redis counters."""
