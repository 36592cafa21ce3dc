#!/usr/bin/env bash
# Benchmark (not a test): issue 6's scenarios against a loopback docker-registry made remote-like by eng/latency-proxy.py
# (every request waits --latency-ms), with our tasks and with the peers Debian ships doing the same work on the same
# registry and images, alternating within each run. For every command: wall time, HTTP requests (+ TLS probes) and
# sequential depth as the proxy saw them; for our tasks also the task's own time (its "MultiArch: … ms" line, without
# MSBuild's start-up). Prints a Markdown table of medians, with ratios to the fastest peer.
#
#   eng/bench-registry.sh [--runs 5] [--latency-ms 25] [--scenarios a,b,c,d] [--output FILE]
#
# Scenarios (N platforms, T extra tags; images made by testassets/base-image/make-image.py, Docker format so that
# every peer reads them):
#   a  inspect a 10-platform list with its child manifests   ours: InspectContainerImage (text)
#                                                           docker manifest inspect -v; skopeo inspect --raw (list only)
#   b  push 3 sources from the target's own repository, T=2   ours: PushContainerManifestList, ContainerPlatforms items,
#   c  the same with 10 sources                                     VerifyPlatforms true (default) and false
#                                                           buildah/podman manifest create + add + push per tag;
#                                                           docker manifest create + push per tag
#   d  10 sources from 10 other repositories into a new one (T=0; the peers push with --all / docker pushes children)
# Every push goes to a new tag (b, c) or a new repository (d). buildah and podman run with storage, blob-info cache,
# configuration and HOME under the run's temp folder; docker with its own DOCKER_CONFIG there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=5 latency=25 scenarios="a,b,c,d" output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2;;
    --latency-ms) latency="$2"; shift 2;;
    --scenarios) scenarios="$2"; shift 2;;
    --output) output="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
source "$root/eng/lib/registry.sh"
"$root/eng/install-prereqs.sh" >/dev/null
missing=()
for tool in buildah podman; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v docker >/dev/null || echo "docker CLI not found: the docker manifest rows are left out" >&2
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0

work="$(mktemp -d "${TMPDIR:-/tmp}/multiarch-bench.XXXXXX")"
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  stop_registry "$work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_registry "$work"
python3 "$root/eng/latency-proxy.py" --upstream "$REGISTRY" --latency-ms "$latency" --port-file "$work/proxy.port" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
PROXY="127.0.0.1:$(cat "$work/proxy.port")"
stats() { curl -fsS "http://$PROXY/_bench/$1"; }

# ------------------------------------------------------------------ images (straight into the registry, not timed)
platforms10=(linux/amd64 linux/arm64/v8 linux/arm/v7 linux/arm/v6 linux/386 linux/ppc64le linux/s390x linux/riscv64 linux/mips64le linux/loong64)
platforms3=("${platforms10[@]:0:3}")
join() { local IFS=,; echo "$*"; }
slug() { echo "${1//\//-}"; }                       # linux/arm64/v8 -> linux-arm64-v8 (make-image.py's per-platform tags)
repo_d() { local p="${1#*/}"; echo "bench-d-${p//\//}"; }   # linux/arm64/v8 -> bench-d-arm64v8
make_image() { python3 "$root/testassets/base-image/make-image.py" --format docker --tls-verify false "$@" >/dev/null; }
echo "Seeding images into $REGISTRY ..." >&2
make_image --dest "$REGISTRY/bench-a:1.0" --platforms "$(join "${platforms10[@]}")" --seed bench-a
make_image --dest "$REGISTRY/bench-b:src" --platforms "$(join "${platforms3[@]}")" --seed bench-b --per-platform-tags
make_image --dest "$REGISTRY/bench-c:src" --platforms "$(join "${platforms10[@]}")" --seed bench-c --per-platform-tags
for p in "${platforms10[@]}"; do make_image --dest "$REGISTRY/$(repo_d "$p"):1" --platforms "$p" --seed bench-d --single; done

sources() { # scenario -> one "platform image" line per source, through the proxy
  case "$1" in
    b) for p in "${platforms3[@]}"; do echo "$p $PROXY/bench-b:src-$(slug "$p")"; done;;
    c) for p in "${platforms10[@]}"; do echo "$p $PROXY/bench-c:src-$(slug "$p")"; done;;
    d) for p in "${platforms10[@]}"; do echo "$p $PROXY/$(repo_d "$p"):1"; done;;
  esac
}
target() { # scenario variant run -> target reference, and extra tags (space-separated)
  case "$1" in
    b|c) echo "$PROXY/bench-$1:$2-$3 $2-$3-x $2-$3-y";;
    d) echo "$PROXY/bench-d-target-$2-$3:1.0";;
  esac
}

# ------------------------------------------------------------------ ours: a project that uses the tasks
dotnet build "$root/MultiArch.Build.Tasks/MultiArch.Build.Tasks.csproj" -c Release -nologo -v:q >/dev/null
app="$work/app"
mkdir -p "$app"
cat > "$app/Directory.Build.props" <<XML
<Project>
  <PropertyGroup><MultiArchTasksAssembly>$root/MultiArch.Build.Tasks/bin/Release/net8.0/MultiArch.Build.Tasks.dll</MultiArchTasksAssembly></PropertyGroup>
  <Import Project="$root/build/MultiArch.Build.Tasks.props" />
</Project>
XML
echo "<Project><Import Project=\"$root/build/MultiArch.Build.Tasks.targets\" /></Project>" > "$app/Directory.Build.targets"
{
  echo '<Project Sdk="Microsoft.NET.Sdk">'
  echo '  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>'
  for s in b c d; do
    echo "  <ItemGroup Condition=\"'\$(BenchScenario)' == '$s'\">"
    sources "$s" | while read -r p image; do echo "    <ContainerPlatforms Include=\"$p\" Image=\"$image\" />"; done
    echo '  </ItemGroup>'
  done
  echo '</Project>'
} > "$app/app.csproj"
dotnet restore "$app" -nologo -v:q >/dev/null
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$PROXY"

ours() { # scenario variant run
  local s="$1" verify=true log="$work/msbuild.log" args
  [ "$2" = ours-noverify ] && verify=false
  if [ "$s" = a ]; then
    args=(-t:InspectContainerImage -p:ContainerInspectImage="$PROXY/bench-a:1.0")
  else
    read -r ref t1 t2 <<<"$(target "$s" "$2" "$3")"
    args=(-t:PushContainerManifestList -p:BenchScenario="$s" -p:ContainerManifestTarget="$ref" -p:ContainerManifestVerifyPlatforms=$verify)
    [ -n "${t1:-}" ] && args+=(-p:ContainerManifestTags="$t1%3B$t2")
  fi
  dotnet msbuild "$app/app.csproj" "${args[@]}" -nologo -tl:off -v:q -fl "-flp:logfile=$log;verbosity=detailed" >/dev/null
  grep -o 'registry requests in [0-9]* ms' "$log" | tail -1 | grep -o '[0-9]* ms' | tr -d ' ms' > "$work/task-ms"
}

# ------------------------------------------------------------------ the peers
iso="$work/containers"
mkdir -p "$iso/home" "$iso/run" "$iso/data" "$iso/config" "$iso/tmp"
echo "" > "$iso/registries.conf"
containers_env=(env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE HOME="$iso/home" XDG_RUNTIME_DIR="$iso/run" XDG_DATA_HOME="$iso/data" XDG_CONFIG_HOME="$iso/config"
  _CONTAINERS_ROOTLESS_UID=1000 CONTAINERS_REGISTRIES_CONF="$iso/registries.conf")   # per-user blob-info cache, not /var/lib/containers
bh() { "${containers_env[@]}" buildah --root "$iso/buildah" --runroot "$iso/buildah-run" --storage-driver vfs "$@"; }
pm() { "${containers_env[@]}" podman --root "$iso/podman" --runroot "$iso/podman-run" --storage-driver vfs --tmpdir "$iso/tmp" \
  --cgroup-manager cgroupfs --events-backend none "$@"; }
mkdir -p "$work/docker"
dk() { DOCKER_CONFIG="$work/docker" docker "$@"; }

platform_flags() { local os arch variant; IFS=/ read -r os arch variant <<<"$1"; echo "--os $os --arch $arch${variant:+ --variant $variant}"; }
containers_push() { # tool scenario variant run
  local tool="$1" s="$2" list="list-$3-$4" ref t1 t2 all=()
  read -r ref t1 t2 <<<"$(target "$s" "$3" "$4")"
  [ "$s" = d ] && all=(--all)
  [ "$s" != d ] && [ "$tool" = pm ] && all=(--all=false)   # podman's default is --all; the children are in place already
  $tool manifest create "$list" >/dev/null
  while read -r p image; do
    # shellcheck disable=SC2046
    $tool manifest add --tls-verify=false $(platform_flags "$p") "$list" "docker://$image" >/dev/null
  done < <(sources "$s")
  for t in "$ref" ${t1:+"${ref%:*}:$t1"} ${t2:+"${ref%:*}:$t2"}; do
    $tool manifest push --tls-verify=false "${all[@]}" "$list" "docker://$t" >/dev/null
  done
}
docker_push() { # scenario variant run
  local s="$1" ref t1 t2 images=()
  read -r ref t1 t2 <<<"$(target "$s" "$2" "$3")"
  while read -r _ image; do images+=("$image"); done < <(sources "$s")
  for t in "$ref" ${t1:+"${ref%:*}:$t1"} ${t2:+"${ref%:*}:$t2"}; do
    dk manifest create --insecure "$t" "${images[@]}" >/dev/null
    dk manifest push --insecure "$t" >/dev/null
  done
}
after() { # untimed clean-up of local manifest lists
  case "$1" in
    buildah) bh manifest rm "list-$2-$3" >/dev/null 2>&1 || true;;
    podman) pm manifest rm "list-$2-$3" >/dev/null 2>&1 || true;;
    docker) rm -rf "$work/docker/manifests";;
  esac
}

variants() {
  case "$1" in
    a) echo "ours docker skopeo";;
    *) echo "ours ours-noverify docker buildah podman";;
  esac
}
run() { # scenario variant run
  local s="$1" v="$2" i="$3"
  case "$v" in
    ours|ours-noverify) ours "$s" "$v" "$i";;
    docker)
      if [ "$s" = a ]; then dk manifest inspect -v --insecure "$PROXY/bench-a:1.0" >/dev/null; else docker_push "$s" "$v" "$i"; fi;;
    skopeo) skopeo inspect --raw --tls-verify=false "docker://$PROXY/bench-a:1.0" >/dev/null;;
    buildah) containers_push bh "$s" "$v" "$i";;
    podman) containers_push pm "$s" "$v" "$i";;
  esac
}

results="$work/results.tsv"
: > "$results"
IFS=, read -r -a wanted <<<"$scenarios"
for i in $(seq 0 "$runs"); do   # run 0 warms up (first JIT, first process start, disk caches) and is not counted
  echo "Run $i of $runs ..." >&2
  for s in "${wanted[@]}"; do
    for v in $(variants "$s"); do
      command -v "${v%%-*}" >/dev/null 2>&1 || [ "${v%%-*}" = ours ] || continue
      rm -f "$work/task-ms"
      stats reset >/dev/null
      start=$(date +%s%N)
      if ! run "$s" "$v" "$i" 2>"$work/run.err"; then
        echo "$s/$v failed:" >&2; cat "$work/run.err" >&2; exit 1
      fi
      end=$(date +%s%N)
      read -r requests probes depth < <(stats stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["probes"], d["depth"])')
      task=$(cat "$work/task-ms" 2>/dev/null || echo "")
      after "$v" "$v" "$i"
      [ "$i" = 0 ] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$v" "$(( (end - start) / 1000000 ))" "${task:--}" "$requests" "$probes" "$depth" >> "$results"
    done
  done
done

machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
versions="dotnet $(dotnet --version), docker $(docker --version 2>/dev/null | awk '{print $3}' | tr -d ,), $(buildah --version | awk '{print "buildah " $3}'), $(podman --version | awk '{print "podman " $3}'), $(skopeo --version | awk '{print "skopeo " $3}'), docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}')"
python3 - "$results" "$runs" "$latency" "$machine" "$versions" <<'PY' | tee "${output:-/dev/null}"
import statistics, sys, datetime
path, runs, latency, machine, versions = sys.argv[1:6]
rows = {}
for line in open(path):
    s, v, wall, task, req, probes, depth = line.rstrip("\n").split("\t")
    rows.setdefault((s, v), []).append((int(wall), None if task == "-" else int(task), int(req), int(probes), int(depth)))
label = {
    "ours": "**ours** (VerifyPlatforms=true)", "ours-noverify": "**ours** (VerifyPlatforms=false)",
    "docker": "docker manifest", "buildah": "buildah manifest", "podman": "podman manifest", "skopeo": "skopeo inspect --raw (list only)",
}
title = {
    "a": "a. inspect a 10-platform list with its child manifests",
    "b": "b. push 3 sources from the target's repository, T=2",
    "c": "c. push 10 sources from the target's repository, T=2",
    "d": "d. push 10 sources from 10 other repositories into a new one",
}
med = lambda xs: statistics.median(xs)
print(f"Median of {runs} runs, alternating; {latency} ms added to every request (TLS probes too) by eng/latency-proxy.py; "
      f"{datetime.date.today().isoformat()}; {machine}; {versions}.\n")
print("| scenario | tool | task time | process time | requests (+TLS probes) | sequential depth | task / fastest peer | process / fastest peer |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for s in "abcd":
    variants = [v for v in ("ours", "ours-noverify", "docker", "buildah", "podman", "skopeo") if (s, v) in rows]
    if not variants:
        continue
    # The same work: every peer but the list-only skopeo read.
    peers = [v for v in variants if not v.startswith("ours") and v != "skopeo"]
    fastest = min((med([r[0] for r in rows[(s, v)]]) for v in peers), default=None)
    for v in variants:
        data = rows[(s, v)]
        wall = med([r[0] for r in data])
        tasks = [r[1] for r in data if r[1] is not None]
        task = med(tasks) if tasks else None
        req, probes, depth = med([r[2] for r in data]), med([r[3] for r in data]), med([r[4] for r in data])
        fmt = lambda x: f"{x:g}"
        ratio_task = f"{task / fastest:.2f}×" if task is not None and fastest else ""
        ratio_wall = f"{wall / fastest:.2f}×" if fastest and v not in peers else ""
        name = "**ours** (InspectContainerImage)" if s == "a" and v == "ours" else label[v]
        print(f"| {title[s] if v == variants[0] else ''} | {name} | {f'{task:g} ms' if task is not None else ''} | {wall:g} ms | "
              f"{fmt(req)}{f' (+{fmt(probes)})' if probes else ''} | {fmt(depth)} | {ratio_task} | {ratio_wall} |")
PY
