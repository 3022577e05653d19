# Shared set-up: config validation, code hashes, path helpers.
from functools import cache
from itertools import product
from pathlib import Path

import sys

from papergrid import checks
from papergrid.config import load_config_file, load_schema, validate_config
from papergrid.provenance import canonical, file_hash, source_hash

# Plan-time checks (papergrid.checks): what the command line drops silently, numbers YAML
# read as strings (before the schema, whose type message would not say why), then the
# schema, then what a schema cannot see.
if workflow.is_main_process:
    checks.raise_problems(checks.configfile_problems(sys.argv))
for path in workflow.configfiles:  # Snakemake keeps the last of a repeated key
    load_config_file(path)
checks.raise_problems(checks.number_strings(config))
validate_config(
    config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
)
checks.raise_problems(
    checks.learning_rate_problems(config)
    + checks.data_problems(config)
    + checks.weights_arm_problems(config)
    + (
        checks.writable_problems(["results", "results/logs"])
        if workflow.is_main_process
        else []
    )
)

# Each experiment's .smk appends {name, title, claims, calibration, tables, figures} for
# REPORT.md (papergrid.report).
REPORT_SECTIONS = []

ENV = "../../envs/papergrid.yaml"


def code(script, *modules):
    """Content hash of a rule's script, the modules it calls and all they import from
    papergrid, passed as a param so that an edit reruns exactly the affected jobs.

    The default profile turns off Snakemake's own code trigger, which reruns a
    script rule whenever the script's mtime is newer than its outputs (a touch)."""
    path = Path(workflow.basedir) / "workflow/scripts" / script
    return source_hash("papergrid.logs", *modules) + file_hash(path)


def logs(experiment, name):
    return f"results/logs/{experiment}/{name}.log"


def bench(experiment, name):
    return f"results/benchmarks/{experiment}/{name}.tsv"


# Each experiment's .smk registers its claims here (workflow/rules/verdicts.smk): the
# analysis module, its inputs, settings and level, and "seeds", the config paths (within
# its block) of its seed lists, which the power planner scales.
CLAIM_SETS = {}


def verdict_paths(experiment):
    """Files of the claims, calibration and claims_page rules (verdicts.smk) for one
    experiment."""
    base = f"results/{experiment}"
    return {
        "raw": f"{base}/claims_raw.parquet",
        "claims": f"{base}/claims.parquet",
        "claims_md": f"{base}/claims.md",
        "plan": f"{base}/plan.json",
        "calibration": f"{base}/calibration.parquet",
        "calibration_md": f"{base}/calibration.md",
        "rates": f"{base}/calibration_rates.parquet",
        "page": f"{base}/claims.html",
    }


@cache
def job_runs(grid, *key, **pinned):
    """The canonical resolved run configs of one training job: ``grid(*key)``, keeping
    the runs whose fields match ``pinned`` (a value of None pins nothing).

    ``grid`` is a module-level partial of an experiment's grid function over its config
    block; ``pinned`` holds the packed axis when a job trains one run of its cell.
    Snakemake evaluates a job's params and each resource several times while planning
    (DAG, conda env, scheduler); memoising keeps that to once per job."""
    runs = grid(*key)
    return canonical(
        [r for r in runs if all(v is None or str(r[k]) == v for k, v in pinned.items())]
    )


@cache
def memory_limit(executor):
    from papergrid.resources import memory_limit as limit

    return limit(executor)


def mem_request(mb, what, attempt):
    """``mb``, or an error at plan time when no machine the jobs could run on has it.

    Resources are evaluated once the executor is known (at parse time it is not)."""
    from papergrid.resources import check_memory

    executor = getattr(workflow.executor_plugin, "name", None)
    return check_memory(mb, memory_limit(executor), what, attempt)


def train_request(runs, seq_len, threads, attempt, model=None):
    """mem_mb and runtime of a job training ``runs`` (one shape, one schedule)."""
    from papergrid.resources import train_request as request

    first = runs[0]
    model = model or first["model"]
    req = request(
        model,
        first["train"]["steps"],
        first["train"]["batch_size"],
        seq_len,
        len(runs),
        threads,
        config["device"],
        attempt,
    )
    shape = ", ".join(f"{k} {v}" for k, v in sorted(model.items()))
    what = f"training {len(runs)} run(s) of a model with {shape} at batch size "
    req["mem_mb"] = mem_request(
        req["mem_mb"], what + str(first["train"]["batch_size"]), attempt
    )
    return req


onstart:
    if config["device"] == "cuda":  # runtime imports torch: only when it has to
        from papergrid.runtime import check_device_here

        check_device_here("cuda", getattr(workflow.executor_plugin, "name", None))


LM_RUN_FILES = (
    ("curve", "parquet"),
    ("summary", "parquet"),
    ("model", "pt"),
    ("vocab", "json"),
)


def run_outputs(path, seeds):
    """A training job's per-seed outputs by kind, other wildcards left in place."""
    return {
        kind: expand(f"{path}/{kind}.{ext}", seed=seeds, allow_missing=True)
        for kind, ext in LM_RUN_FILES
    }


# Grid experiments whose runs nothing downstream reads one by one (weights, precision,
# depth) declare each training job's cell as one directory() output, with a folder per
# run inside, and pass the per-run paths as a param. Snakemake spends about 0.25 ms of
# every dry run per declared file; at 24 files per precision cell that was most of the
# planning time of a thousand-cell grid (README, "Planning a large grid").
#
# Packing pays the start-up once for tiny runs (README, "Tiny jobs"); at paper scale a
# cell would be one job of days, so `pack: false` makes each run a job of its own, its
# run folder the output.
def priced_request(runs, steps, seq_len, threads, attempt):
    """train_request for a job whose runs differ in shape and do more than train: each run
    priced at ``steps(run, seq_len)`` fine-tuning steps, the deepest model's shape."""
    priced = [{**r, "train": {**r["train"], "steps": steps(r, seq_len)}} for r in runs]
    deepest = max((r["model"] for r in runs), key=lambda m: m["n_layer"])
    return train_request(priced, seq_len, threads, attempt, model=deepest)


def cell_files(run, wildcards, kinds=LM_RUN_FILES, **values):
    """{kind: [path of each run]} of one job, in ``values``' order; an axis that is one
    of the job's wildcards (an unpacked job) keeps the wildcard's value."""
    fixed = dict(wildcards.items())
    axes = {k: v for k, v in values.items() if k not in fixed}
    # plain str.format: expand() here was a quarter of planning a 2,000-job grid
    points = [dict(zip(axes, combo)) for combo in product(*axes.values())]
    return {
        kind: [f"{run}/{kind}.{ext}".format(**fixed, **p) for p in points]
        for kind, ext in kinds
    }
