#!/usr/bin/env bash
# Benchmark (not a test): the whole `multiarch` process against the command-line peers, on eng/bench-registry.sh's
# scenarios (a loopback docker-registry behind eng/latency-proxy.py, every request waiting --latency-ms). Each command
# is a fresh process, timed from start to exit; the tools alternate within each run. Prints a Markdown table of median
# wall times with the ratio to the fastest peer.
#
#   eng/bench-cli.sh [--runs 5] [--latency-ms 25] [--scenarios a,b,c,d,e] [--output FILE]
#
# The tools (a row is left out when its tool is not found; nothing of theirs is in this repository):
#   multiarch      $MULTIARCH, else `multiarch` on PATH, else packed by eng/pack.sh and installed into the run's folder
#   manifest-tool  $MANIFEST_TOOL or `manifest-tool` on PATH
#   crane          $CRANE or `crane` on PATH
#   buildx         $BUILDX (the docker-buildx binary), `docker-buildx` on PATH, or `docker buildx` when it works
# Scenarios:
#   a  inspect a 10-platform Docker list (multiarch and manifest-tool also read every child manifest; crane only the list)
#   b  push a list of 3 sources from the target's own repository, plus 2 extra tags (crane: index append + 2 tag calls)
#   c  the same as b with 10 sources
#   d  push a list of 10 sources from 10 other repositories into a new one
#   e  the same as b with 50 sources (5 operating systems x 10 architectures)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=5 latency=25 scenarios="a,b,c,d,e" output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2;;
    --latency-ms) latency="$2"; shift 2;;
    --scenarios) scenarios="$2"; shift 2;;
    --output) output="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
source "$root/eng/lib/bench.sh"
bench_work multiarch-bench-cli

# ------------------------------------------------------------------ the tools
multiarch="${MULTIARCH:-$(command -v multiarch || true)}"
if [ -z "$multiarch" ]; then
  echo "Packing and installing multiarch (eng/pack.sh) ..." >&2
  "$root/eng/pack.sh" --output "$work/feed" --version 0.0.0-bench --artifacts-path "$work/pack" >/dev/null
  printf '<configuration><packageSources><clear /><add key="bench" value="%s" /></packageSources></configuration>\n' "$work/feed" > "$work/nuget.config"
  dotnet tool install --tool-path "$work/tools" --configfile "$work/nuget.config" MultiArch.Tool --version 0.0.0-bench >/dev/null
  multiarch="$work/tools/multiarch"
fi
manifest_tool="$(find_peer manifest-tool)"
crane="$(find_peer crane)"
read -r -a buildx <<<"$(find_peer buildx)"   # may be two words: docker buildx

# ------------------------------------------------------------------ registry, proxy and images (not timed)
bench_registry "$latency"
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$PROXY"
seed_images "$scenarios"
images() { sources "$1" | cut -d' ' -f2; }   # scenario -> its source images, one a line

# ------------------------------------------------------------------ one command: scenario tool run -> exit code
run_one() {
  local s="$1" tool="$2" run="$3" target repo tags=() spec="$work/spec-$1-$2-$3.yaml"
  if [ "$s" = a ]; then
    case "$tool" in
      multiarch) "$multiarch" inspect "$PROXY/bench-a:1.0";;
      manifest-tool) "$manifest_tool" --plain-http inspect "$PROXY/bench-a:1.0";;
      crane) "$crane" manifest --insecure "$PROXY/bench-a:1.0";;
      buildx) "${buildx[@]}" imagetools inspect "$PROXY/bench-a:1.0";;
    esac
    return
  fi
  if [ "$s" != d ]; then repo="$PROXY/bench-$s"; target="$repo:$tool-$run"; tags=("$tool-$run-x" "$tool-$run-y"); else repo="$PROXY/bench-d-$tool-$run"; target="$repo:1.0"; fi
  { echo "image: $target"; [ ${#tags[@]} -eq 0 ] || echo "tags: [$(join "${tags[@]}")]"; echo "manifests:"; images "$s" | sed 's/^/  - image: /'; } > "$spec"
  case "$tool" in
    multiarch) "$multiarch" push --type docker from-spec "$spec";;
    manifest-tool) "$manifest_tool" --plain-http push from-spec "$spec";;
    crane)
      local args=() src t
      while read -r src; do args+=(-m "$src"); done < <(images "$s")
      "$crane" index append --insecure -t "$target" "${args[@]}" && for t in ${tags[@]+"${tags[@]}"}; do "$crane" tag --insecure "$target" "$t" || return; done;;
    buildx)
      local args=(-t "$target") t
      for t in ${tags[@]+"${tags[@]}"}; do args+=(-t "$repo:$t"); done
      "${buildx[@]}" imagetools create "${args[@]}" $(images "$s");;
  esac
}

tools=(multiarch)
[ -n "$manifest_tool" ] && tools+=(manifest-tool)
[ -n "$crane" ] && tools+=(crane)
[ ${#buildx[@]} -gt 0 ] && tools+=(buildx)
echo "Tools: ${tools[*]}; $runs runs, $latency ms per request" >&2
: > "$work/times"
IFS=, read -r -a chosen <<<"$scenarios"
for s in "${chosen[@]}"; do
  for run in $(seq 0 "$runs"); do          # run 0 warms every tool up and is not counted
    for tool in "${tools[@]}"; do
      start=$(date +%s%N)
      if run_one "$s" "$tool" "$run" >"$work/out" 2>&1; then code=ok; else code=failed; fi
      end=$(date +%s%N)
      [ "$run" -gt 0 ] && echo "$s $tool $(( (end - start) / 1000000 )) $code" >> "$work/times"
      [ "$code" = ok ] || { echo "$s $tool run $run failed:" >&2; tail -3 "$work/out" >&2; }
    done
  done
done

table="$(python3 - "$work/times" "$latency" "$runs" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    s, tool, ms, code = line.split()
    rows.setdefault((s, tool), []).append((int(ms), code))
names = {"a": "a: inspect a 10-platform list", "b": "b: push 3 sources + 2 tags", "c": "c: push 10 sources + 2 tags", "d": "d: push 10 sources from 10 repositories", "e": "e: push 50 sources + 2 tags"}
print(f"| scenario | tool | median wall (whole process) | ratio to the fastest peer |")
print("|---|---|---|---|")
for s in sorted({k[0] for k in rows}):
    medians = {t: statistics.median(ms for ms, _ in v) for (sc, t), v in rows.items() if sc == s and all(c == "ok" for _, c in v)}
    peers = [m for t, m in medians.items() if t != "multiarch"]
    for (sc, t), v in sorted(rows.items(), key=lambda kv: kv[0][1] != "multiarch"):
        if sc != s:
            continue
        if t not in medians:
            print(f"| {names[s]} | {t} | failed | |")
            continue
        ratio = f"{medians[t] / min(peers):.2f}x" if peers else ""
        print(f"| {names[s]} | {t} | {medians[t]:.0f} ms | {ratio} |")
PY
)"
echo "$table"
[ -z "$output" ] || echo "$table" > "$output"
