import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from papergrid.contract import (
    BASE_FIELDS,
    ContractError,
    RunContract,
    collect,
    read_checked,
    rows_to_table,
    write_run,
)

CONTRACT = RunContract(
    experiment="toy",
    grid=(pa.field("width", pa.int64()),),
    curve=(pa.field("step", pa.int64()), pa.field("loss", pa.float64())),
    summary=(pa.field("loss", pa.float64()),),
)


def meta(**over):
    base = {
        "run_id": "toy/w4-s0",
        "experiment": "toy",
        "seed": 0,
        "n_params": 10,
        "status": "ok",
        "wall_seconds": 1.0,
        "device": "cpu",
        "torch_version": "x",
        "config_hash": "c",
        "code_hash": "h",
        "width": 4,
    }
    return {**base, **over}


def test_every_row_carries_the_base_columns():
    names = CONTRACT.curve_schema().names
    assert names[: len(BASE_FIELDS)] == [f.name for f in BASE_FIELDS]
    assert "width" in names and "step" in names


def test_write_run_round_trips(tmp_path):
    curve = [{"step": 0, "loss": 2.0}, {"step": 1, "loss": math.nan}]
    write_run(
        CONTRACT,
        meta(status="diverged"),
        curve,
        {"loss": math.nan},
        tmp_path / "c.parquet",
        tmp_path / "s.parquet",
    )
    table = read_checked(tmp_path / "c.parquet", CONTRACT.curve_schema())
    assert table.num_rows == 2
    assert table.column("status").to_pylist() == ["diverged", "diverged"]


def test_missing_row_key_is_named():
    with pytest.raises(ContractError, match=r"lacks column\(s\) \['loss'\]"):
        rows_to_table([{**meta(), "step": 0}], CONTRACT.curve_schema(), "where")


def test_unknown_status_is_refused():
    with pytest.raises(ContractError, match="status 'weird'"):
        rows_to_table([{**meta(status="weird"), "loss": 1.0}], CONTRACT.summary_schema(), "where")


def test_missing_column_in_file_names_file_and_column(tmp_path):
    path = tmp_path / "bad.parquet"
    good = rows_to_table([{**meta(), "loss": 1.0}], CONTRACT.summary_schema(), "x")
    pq.write_table(good.drop_columns(["code_hash"]), path)
    with pytest.raises(ContractError, match=r"bad\.parquet: missing column 'code_hash'"):
        collect([path], CONTRACT.summary_schema())


def test_wrong_type_in_file_names_column(tmp_path):
    path = tmp_path / "typed.parquet"
    good = rows_to_table([{**meta(), "loss": 1.0}], CONTRACT.summary_schema(), "x")
    bad = good.set_column(good.schema.get_field_index("width"), "width", pa.array(["4"]))
    pq.write_table(bad, path)
    with pytest.raises(ContractError, match=r"typed\.parquet: column 'width' has type string"):
        read_checked(path, CONTRACT.summary_schema())


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ContractError, match="does not exist"):
        read_checked(tmp_path / "nope.parquet", CONTRACT.summary_schema())
