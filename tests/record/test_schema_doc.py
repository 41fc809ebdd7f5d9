"""docs/columns.md is the schema, generated: a column added without regenerating it fails here."""

from pathlib import Path

from harness.record.schema import COLUMNS, columns_page

DOC = Path(__file__).resolve().parents[2] / "docs" / "columns.md"


def test_the_columns_page_is_the_schema():
    assert DOC.read_text() == columns_page(), "regenerate: python -m harness.record.schema > docs/columns.md"
    assert all(f"| `{name}` |" in DOC.read_text() for name, _, _ in COLUMNS)
