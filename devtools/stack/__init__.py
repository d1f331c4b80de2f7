"""Local development stack: the real Kafka broker, redis-server and Prometheus in a run folder.

Usage::

    from devtools.stack import LocalStack

    addrs = LocalStack(run_dir=Path(".run")).up()
"""

from devtools.stack.local import LocalStack, StackAddresses, StackStatus
from devtools.stack.ports import StackError

__all__ = ["LocalStack", "StackAddresses", "StackError", "StackStatus"]
