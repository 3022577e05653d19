import pandas as pd

from papergrid.tables import markdown_table


def test_markdown_table_formats_floats_and_keeps_order():
    df = pd.DataFrame({"b": [0.123456, 2.0], "a": ["x", "y"]})
    assert markdown_table(df, ["a", "b"]) == "| a | b |\n|---|---|\n| x | 0.1235 |\n| y | 2 |\n"
