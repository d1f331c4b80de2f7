"""The core stays pure: no Kafka, Redis, websocket, metrics or faust import."""

from __future__ import annotations

import ast
from pathlib import Path

import counting

FORBIDDEN = {"faust", "mode", "aiokafka", "redis", "websockets", "prometheus_client", "asyncio",
             "time", "socket"}


def test_core_modules_import_no_io() -> None:
    root = Path(counting.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
