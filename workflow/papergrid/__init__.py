"""papergrid: test claims of late-2024 ML papers at small scale.

The package holds the logic; Snakemake rules and scripts only unpack wildcards,
params and paths and call into it. Importing the top-level package is cheap (no
torch), because the Snakefile imports papergrid at start-up to hash code and
check config.
"""

__version__ = "0.1.0"
