"""Unit tests for loopback port selection and required-command checks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.stack import ports, prometheus
from devtools.stack.ports import StackError


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a kernel-chosen loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def _port(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


def test_listening_port_is_not_free(listener: socket.socket) -> None:
    port = _port(listener)
    assert not ports.is_port_free(port)
    assert ports.taken_ports([port]) == [port]
    listener.close()
    assert ports.is_port_free(port)
    assert ports.taken_ports([port]) == []


def test_wildcard_listener_blocks_loopback_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))  # noqa: S104 - the point is a listener on every interface
        sock.listen()
        assert not ports.is_port_free(_port(sock))


def test_pick_free_ports_are_distinct_bindable_and_outside_ephemeral_range() -> None:
    chosen = ports.pick_free_ports(5)
    assert len(set(chosen)) == 5
    eph = ports.ephemeral_range()
    for port in chosen:
        assert port in ports.PORT_RANGE
        assert port not in eph
        assert ports.is_port_free(port)


def test_pick_free_ports_skips_taken_and_excluded_ports(listener: socket.socket) -> None:
    taken = _port(listener)
    window = range(taken, taken + 3)
    free = [p for p in window if p != taken and ports.is_port_free(p)]
    chosen = ports.pick_free_ports(len(free), port_range=window, ephemeral=range(0))
    assert sorted(chosen) == free
    if free:
        rest = ports.pick_free_ports(
            len(free) - 1, port_range=window, exclude=[free[0]], ephemeral=range(0)
        )
        assert free[0] not in rest


def test_pick_free_ports_reports_shortage(listener: socket.socket) -> None:
    taken = _port(listener)
    with pytest.raises(StackError, match="found only 0 of 1 free ports"):
        ports.pick_free_ports(1, port_range=range(taken, taken + 1), ephemeral=range(0))


def test_pick_zero_ports_and_reject_negative() -> None:
    assert ports.pick_free_ports(0) == []
    with pytest.raises(ValueError, match="count"):
        ports.pick_free_ports(-1)


def test_candidate_ports_drop_the_ephemeral_overlap() -> None:
    got = ports.candidate_ports(range(100, 110), ephemeral=range(105, 200))
    assert sorted(got) == list(range(100, 105))


def test_ephemeral_range_reads_the_kernel_file(tmp_path: Path) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("40000\t50000\n")
    assert ports.ephemeral_range(path) == range(40000, 50001)
    assert ports.ephemeral_range(tmp_path / "missing") == range(32768, 61000)
    path.write_text("garbage\n")
    assert ports.ephemeral_range(path) == range(32768, 61000)


def test_ensure_command_finds_commands_on_path() -> None:
    found = ports.ensure_command("sh", "dash", lambda _msg: None)
    assert Path(found).name == "sh"


def test_ensure_command_without_root_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match=r"sudo apt-get install -y -qq some-package"):
        ports.ensure_command("surely-not-a-command-xyz", "some-package", lambda _msg: None)


def test_promtool_without_root_names_the_exact_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as failure:
        prometheus.ensure_tools(lambda _msg: None)
    assert str(failure.value).endswith(
        "sudo apt-get install -y -qq --no-install-recommends prometheus"
    )
