"""Prepare the digit images. Output: data (npz). Params: data (the config's weights.data block)."""

from papergrid.logs import setup_logging
from papergrid.weights.data import prepare_data

setup_logging(snakemake.log[0])
prepare_data(snakemake.params.data, snakemake.output.data)
