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


def code(*modules):
    """Content hash of the modules a rule's script calls and all they import from
    papergrid, passed as a param so that an edit reruns exactly the affected jobs."""
    return source_hash("papergrid.logs", *modules)


def logs(experiment, name):
    return f"results/logs/{experiment}/{name}.log"


def bench(experiment, name):
    return f"results/benchmarks/{experiment}/{name}.tsv"
