"""README.md's interoperability table is the one the interop tests produce when all pass."""

from __future__ import annotations

from tests.interop.servers import ROOT
from tests.interop.table import BEGIN, END, render, replace_block


def test_readme_table_matches_declarations() -> None:
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme
    assert replace_block(readme, render()) == readme


def test_render_reports_each_outcome() -> None:
    table = render({("aiohttp", "text echo"): "FAIL", ("tornado", "text echo"): "skipped"})
    row = next(line for line in table.splitlines() if line.startswith("| text echo |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")][1:]
    assert cells[:3] == ["FAIL", "skipped", "not run"]
    deflate = next(line for line in table.splitlines() if line.startswith("| permessage-deflate"))
    assert "not offered" in deflate
