#!/usr/bin/env bash
# Runs the whole test suite three times in a row while another process keeps every core busy (stress-ng), to show
# that no test depends on an idle machine. Prints each run's "N passed, N failed" and a final total line.
#
#   ./eng/test-loaded.sh              # 3 runs, stress-ng --cpu <number of cores>
#   RUNS=1 STRESS_CPUS=4 ./eng/test-loaded.sh --filter "FullyQualifiedName~Retry"   # arguments go to dotnet test
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-3}"
cpus="${STRESS_CPUS:-$(nproc)}"
NEED_STRESS_NG=1 "$root/eng/install-prereqs.sh"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0

# Build once, before the load starts: the runs below test, they do not compile.
dotnet build "$root/MultiArch.Build.Tasks.slnx" -c Release -nologo -v:q

stress-ng --cpu "$cpus" --timeout 0 --quiet &
stress=$!
trap 'kill "$stress" 2>/dev/null || true; wait "$stress" 2>/dev/null || true' EXIT
echo "stress-ng --cpu $cpus running (pid $stress)"

total_passed=0
total_failed=0
summaries=()
for run in $(seq 1 "$runs"); do
  results="$root/artifacts/test-results-loaded/run-$run"
  rm -rf "$results"
  mkdir -p "$results"
  start=$(date +%s)
  dotnet test "$root/MultiArch.Build.Tasks.slnx" -c Release --no-build --logger "trx;LogFileName=results.trx" \
    --logger "console;verbosity=minimal" --results-directory "$results" "$@" >"$results/console.txt" 2>&1 || true
  line="$(python3 "$root/eng/trx-summary.py" "$results"/*.trx 2>/dev/null || echo "0 passed, 1 failed")"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  summaries+=("run $run: $line ($(( $(date +%s) - start )) s, load average $load)")
  echo "${summaries[-1]}"
  grep -E '^\s+Failed ' "$results/console.txt" || true
  passed="$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")"
  failed="$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")"
  total_passed=$(( total_passed + passed ))
  total_failed=$(( total_failed + failed ))
done

echo
printf '%s\n' "${summaries[@]}"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
