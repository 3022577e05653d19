"""The weights experiment's Parquet columns (see papergrid.contract)."""

import pyarrow as pa

from papergrid.contract import RunContract

_METRICS = (
    pa.field("train_loss", pa.float64()),
    pa.field("train_acc", pa.float64()),
    pa.field("test_loss", pa.float64()),
    pa.field("test_acc", pa.float64()),
    # ||W_t - W_0||_F / ||W_0||_F per layer
    pa.field("dev_fc1", pa.float64()),
    pa.field("dev_fc2", pa.float64()),
    pa.field("dev_fc3", pa.float64()),
    # cos(W_t, W_0) per layer: blind to a uniform shrink (weight decay's share of dev_)
    pa.field("cos_fc1", pa.float64()),
    pa.field("cos_fc2", pa.float64()),
    pa.field("cos_fc3", pa.float64()),
    # ||W_t|| / ||W_0|| per layer: with the cosine, the deviation net of decay's shrink
    pa.field("norm_fc1", pa.float64()),
    pa.field("norm_fc2", pa.float64()),
    pa.field("norm_fc3", pa.float64()),
    pa.field("mask_auc", pa.float64()),  # 1.0 at init, 0.5 when the stamp is erased
)

CONTRACT = RunContract(
    experiment="weights",
    grid=(
        pa.field("width", pa.int64()),
        pa.field("optimizer", pa.string()),
    ),
    curve=(pa.field("epoch", pa.int64()), pa.field("step", pa.int64())) + _METRICS,
    summary=(
        pa.field("epochs_run", pa.int64()),
        # the rates and decay the run trained with: "tuned" rates are resolved at run time
        pa.field("lr", pa.float64()),
        pa.field("hidden_lr", pa.float64()),
        pa.field("weight_decay", pa.float64()),
    )
    + _METRICS,
)
