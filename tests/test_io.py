import pyarrow as pa
import pytest

from papergrid.io import atomic_path, write_parquet


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_file_survives_failed_rewrite(tmp_path):
    target = tmp_path / "t.parquet"
    write_parquet(pa.table({"a": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"garbage")
        raise RuntimeError
    assert pa.parquet.read_table(target).column("a").to_pylist() == [1]
