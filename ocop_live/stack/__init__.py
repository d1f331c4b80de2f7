"""Local development stack: the real Kafka broker, redis-server and Prometheus in a run folder.

Usage::

    from ocop_live.stack import LocalStack

    addrs = LocalStack(run_dir=Path(".run")).up()
"""

from ocop_live.stack.local import LocalStack, StackAddresses, StackStatus
from ocop_live.stack.ports import StackError

__all__ = ["LocalStack", "StackAddresses", "StackError", "StackStatus"]
