"""The committed contract files match the code, and the command that writes them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from counting.schema import schema_files
from devtools.contract import CONTRACT_DIR, main, stale_files


def test_the_committed_schemas_are_what_the_decoder_generates() -> None:
    # Fails after a change to counting/contract.py until `python -m devtools.contract`
    # has rewritten docs/contract/ and the result is committed.
    assert stale_files(CONTRACT_DIR) == []


def test_the_command_writes_checks_and_names_stale_files(tmp_path: Path) -> None:
    folder = tmp_path / "contract"
    runner = CliRunner()
    missing = runner.invoke(main, ["--check", "--dir", str(folder)])
    assert missing.exit_code == 1 and "order.schema.json" in missing.output
    (folder).mkdir()
    (folder / "gone.schema.json").write_text("{}\n", encoding="utf-8")
    wrote = runner.invoke(main, ["--dir", str(folder)])
    assert wrote.exit_code == 0, wrote.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(schema_files())
    assert runner.invoke(main, ["--check", "--dir", str(folder)]).exit_code == 0
    (folder / "order.schema.json").write_text("{}\n", encoding="utf-8")
    stale = runner.invoke(main, ["--check", "--dir", str(folder)])
    assert stale.exit_code == 1 and "order.schema.json" in stale.output
