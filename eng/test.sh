#!/usr/bin/env bash
# Runs the whole test suite: installs the prerequisites, builds, runs every test (the tests start their own
# registries on free loopback ports) and prints one line "N passed, N failed".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/eng/install-prereqs.sh"
results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0
status=0
dotnet test "$root/MultiArch.Build.Tasks.slnx" -c Release --logger "trx;LogFileName=results.trx" \
  --logger "console;verbosity=normal" --results-directory "$results" "$@" || status=$?
python3 "$root/eng/trx-summary.py" "$results"/*.trx || { echo "0 passed, 1 failed"; exit 1; }
exit $status
