# Shared set-up: config validation, code hashes, path helpers.
from pathlib import Path

from papergrid.config import load_schema, validate_config
from papergrid.provenance import source_hash

validate_config(
    config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
)

# Each experiment's .smk appends {name, title, claims, fits, figures} for REPORT.md.
REPORT_SECTIONS = []

ENV = "../../envs/papergrid.yaml"
SHARED = (
    "papergrid.contract",
    "papergrid.io",
    "papergrid.provenance",
    "papergrid.runtime",
    "papergrid.logs",
)


def code(*modules):
    """Content hash of the modules a rule runs, passed as a param so edits rerun it."""
    return source_hash(*modules, *SHARED)


def logs(experiment, name):
    return f"results/logs/{experiment}/{name}.log"


def bench(experiment, name):
    return f"results/benchmarks/{experiment}/{name}.tsv"
