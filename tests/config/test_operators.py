"""The operator table: which operators `when` and `where` take, and that the docs list each."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.config.operators import OPERATORS, written_in

DOCS = Path(__file__).parent.parent.parent / "docs" / "configuration.md"


def test_when_and_where_take_their_operators_in_table_order() -> None:
    assert list(written_in("when")) == ["not", "in", "glob", "regex", "exists"]
    assert list(written_in("where")) == ["eq", "in", "regex", "exists", "gt", "lt"]


def test_every_operator_is_in_the_documented_table() -> None:
    text = DOCS.read_text()
    section = text[text.index("### Operators") :]
    table = section[: section.index("\n###")]
    rows = {
        match.group(1): (match.group(2).strip(), match.group(3).strip())
        for match in re.finditer(r"^\| `(\w+)` [^|]*\|([^|]*)\|([^|]*)\|", table, re.M)
    }
    assert set(rows) == {op.name for op in OPERATORS}
    for op in OPERATORS:
        when, where = rows[op.name]
        assert (when != "") == ("when" in op.written_in or op.name == "eq"), op.name
        assert (where != "") == ("where" in op.written_in), op.name
