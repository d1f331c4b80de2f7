"""Write or check the published contract: ``docs/contract/*.schema.json``.

The schemas themselves come from ``counting/schema.py`` (pure); this only writes them,
or with ``--check`` says which committed files differ from the code and exits 1.

Usage::

    python -m devtools.contract            # regenerate docs/contract/
    python -m devtools.contract --check    # what CI runs (tests/counting/test_schema.py too)
"""

from __future__ import annotations

from pathlib import Path

import click

from counting.schema import schema_files

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "docs" / "contract"


def stale_files(folder: Path) -> list[str]:
    """Schema files in ``folder`` that are missing, differ from the code, or are left over."""
    wanted = schema_files()
    stale = [name for name, text in wanted.items()
             if not (folder / name).is_file() or (folder / name).read_text("utf-8") != text]
    stale += sorted(p.name for p in folder.glob("*.schema.json") if p.name not in wanted)
    return stale


@click.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file is stale.")
@click.option("--dir", "folder", default=CONTRACT_DIR, show_default=True,
              type=click.Path(file_okay=False, path_type=Path))
def main(check: bool, folder: Path) -> None:
    """Generate the JSON Schemas of the input contract from the decoder's types."""
    if check:
        stale = stale_files(folder) if folder.is_dir() else sorted(schema_files())
        if stale:
            raise click.ClickException(
                f"{', '.join(stale)} in {folder} differ from counting/contract.py: run "
                "`python -m devtools.contract` and commit the result")
        click.echo(f"{folder}: up to date")
        return
    wanted = schema_files()
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("*.schema.json"):
        if leftover.name not in wanted:
            leftover.unlink()
    for name, text in wanted.items():
        (folder / name).write_text(text, encoding="utf-8")
    click.echo(f"wrote {len(wanted)} schemas to {folder}")

if __name__ == "__main__":
    main()
