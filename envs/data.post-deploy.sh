#!/usr/bin/env bash
# Installs this project into each conda env Snakemake builds from envs/*.yaml
# (Snakemake runs envs/<name>.post-deploy.sh inside the new env, from its working
# directory). Editable, so the env always runs the clone's code; no dependencies,
# because the env file pins them.
# Not a pip entry in the env file: Snakemake copies the env file to
# <conda-prefix>/<hash>.yaml and conda runs pip from that copy's folder, so a
# relative path would point into .snakemake/conda; and pip would add the package's
# unpinned dependencies (torch in the data env).
set -euo pipefail
root=${NSDRECON_ROOT:-$PWD}
if [ ! -f "$root/pyproject.toml" ] || [ ! -d "$root/src/nsdrecon" ]; then
    echo "envs post-deploy: $root is not the nsdrecon clone; run snakemake from the" \
        "clone or set NSDRECON_ROOT=/path/to/clone" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --editable "$root"
