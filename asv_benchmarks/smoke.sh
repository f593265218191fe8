#!/usr/bin/env bash
# Smoke run of the asv suite: every benchmark once (--quick), in an existing
# environment (--python=same: no build, no new virtualenv), results not stored.
# Fails (exit status 2) if any benchmark fails, so that benchmarks never rot.
#
# Usage: bash asv_benchmarks/smoke.sh [VENV]   (VENV defaults to .venv; it must have
# fastlr installed; asv is installed into it when missing). Takes about 2 minutes
# on 2 cores with the default (small) profile; see docs/benchmarking.md.
set -euo pipefail
venv=$(cd "${1:-.venv}" && pwd)
cd "$(dirname "$0")"
export PATH="$venv/bin:$PATH"

if ! python -c "import asv" 2>/dev/null; then
    python -m pip install --quiet "asv>=0.6"
fi

start=$SECONDS
asv machine --yes >/dev/null
asv check --python=same
asv run --python=same --quick --show-stderr --dry-run
echo "asv smoke run: $((SECONDS - start)) s"
