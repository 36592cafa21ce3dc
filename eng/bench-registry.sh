#!/usr/bin/env bash
# Benchmark (not a test): issue 13's scenarios against a loopback docker-registry made remote-like by eng/latency-proxy.py
# (every request waits --latency-ms), with our tasks and with the peers doing the same work on the same registry and
# images, round-robin within each run. For every command: wall time (the whole process), HTTP requests (+ TLS probes)
# and sequential depth as the proxy saw them; for our tasks also the task's own time (its "MultiArch: … ms" line,
# from the task's Execute on: without MSBuild's start-up and without loading the task assembly) and the processor time
# the process spent meanwhile (which a loaded machine barely changes, where it stretches every time). After every push the
# registry is read (untimed, not through the proxy): every tag must point at one index with the N children expected,
# each child present in the target repository. Prints a Markdown table of medians with ratios to the fastest peer.
#
#   eng/bench-registry.sh [--runs 5] [--latency-ms 25] [--scenarios a,b,c,d,e] [--peers LIST] [--output FILE]
#
# MULTIARCH_TASKS_ASSEMBLY runs another build of the task assembly with this script; MULTIARCH_BASELINE_ASSEMBLY adds
# rows "ours, baseline" (VerifyPlatforms=true) run with that assembly (an earlier commit's), round-robin with the rest.
# Rows "ours, second task in the build" run the same task after one inspect of a one-platform image straight to the
# registry (not through the proxy: not counted) in the same MSBuild process: the task once .NET's HTTP stack has been used
# in the process (as in a publish, after the SDK's own pushes), without the first use's cost.
#
# Peers (--peers, default all of them; a peer whose binary is not found is left out, and the table names those that ran):
#   manifest-tool   $MANIFEST_TOOL or manifest-tool on PATH (estesp/manifest-tool v2): inspect; push from-spec
#   crane           $CRANE or crane on PATH (go-containerregistry): index append -t, then crane tag per extra tag
#                   (no single command inspects an index with its children: not run in a)
#   buildx          $BUILDX (a docker-buildx binary) or docker-buildx on PATH or the docker buildx plugin:
#                   imagetools inspect --format '{{json .Manifest}}'; imagetools create with every tag
#   docker          Debian's docker CLI: manifest inspect -v; manifest create + push per tag
#   buildah, podman manifest create + add with the platform + push per tag (--all into another repository)
#   skopeo          inspect --raw (the list only: not the same work, no ratio)
# None of them is built or installed by this script: build the first three from their public sources elsewhere and
# point the variables at the binaries.
#
# Scenarios (N platforms, T extra tags; images made by testassets/base-image/make-image.py, Docker format so that
# every peer reads them):
#   a  inspect a 10-platform list with its child manifests   ours: InspectContainerImage (text)
#   b  push 3 sources from the target's own repository, T=2   ours: PushContainerManifestList, ContainerPlatforms items,
#   c  the same with 10 sources                                     VerifyPlatforms true (default) and false
#   d  10 sources from 10 other repositories into a new one (T=0; the peers push with --all / docker pushes children)
#   e  50 sources from the target's own repository, T=2 (50 os/architecture pairs)
# Every push goes to a new tag (b, c, e) or a new repository (d). buildah and podman run with storage, blob-info cache,
# configuration and HOME under the run's temp folder; docker and buildx with their own DOCKER_CONFIG there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=5 latency=25 scenarios="a,b,c,d,e" peers="manifest-tool,crane,buildx,docker,buildah,podman,skopeo" output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2;;
    --latency-ms) latency="$2"; shift 2;;
    --scenarios) scenarios="$2"; shift 2;;
    --peers) peers="$2"; shift 2;;
    --output) output="$2"; shift 2;;
    *) echo "unknown argument: $1" >&2; exit 2;;
  esac
done
source "$root/eng/lib/bench.sh"
"$root/eng/install-prereqs.sh" >/dev/null
bench_work multiarch-bench

# ------------------------------------------------------------------ which peers run
declare -A peer_cmd=()
IFS=, read -r -a wanted_peers <<<"$peers"
for p in "${wanted_peers[@]}"; do
  cmd="$(find_peer "$p")"
  if [ -n "$cmd" ]; then peer_cmd[$p]="$cmd"; else echo "$p not found: its rows are left out" >&2; fi
done
has() { [ -n "${peer_cmd[$1]:-}" ]; }

# ------------------------------------------------------------------ registry, proxy, images (not timed)
bench_registry "$latency"
stats() { curl -fsS "http://$PROXY/_bench/$1"; }
IFS=, read -r -a wanted <<<"$scenarios"
seed_images "$scenarios"

count() { case "$1" in b) echo 3;; c|d) echo 10;; e) echo 50;; esac; }
target() { # scenario variant run -> target reference, and extra tags (space-separated)
  case "$1" in
    b|c|e) echo "$PROXY/bench-$1:$2-$3 $2-$3-x $2-$3-y";;
    d) echo "$PROXY/bench-d-target-$2-$3:1.0";;
  esac
}

# Untimed check after every push, straight to the registry: every tag points at the same index of N children, each
# present in the target repository.
verify() { # scenario variant run
  local ref t1 t2
  read -r ref t1 t2 <<<"$(target "$1" "$2" "$3")"
  python3 - "$REGISTRY" "${ref#"$PROXY"/}" "$(count "$1")" ${t1:+"$t1"} ${t2:+"$t2"} <<'PY'
import json, sys, urllib.request
registry, ref, n, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
repo, tag = ref.rsplit(":", 1)
accept = ",".join(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
                   "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])
def get(reference, method="GET"):
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{reference}", method=method, headers={"Accept": accept})
    with urllib.request.urlopen(req) as r:
        return r.headers["Docker-Content-Digest"], r.read()
digest, body = get(tag)
index = json.loads(body)
children = [m for m in index.get("manifests", []) if m.get("platform", {}).get("architecture") != "unknown"]
if len(children) != n:
    sys.exit(f"{ref}: {len(children)} children, expected {n}")
if len({(m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")) for m in children}) != n:
    sys.exit(f"{ref}: platforms repeat")
for m in children:
    get(m["digest"], "HEAD")
for t in extra:
    other, _ = get(t)
    if other != digest:
        sys.exit(f"{repo}:{t} -> {other}, not {digest}")
PY
}

# ------------------------------------------------------------------ ours: a project that uses the tasks
dotnet build "$root/MultiArch.Build.Tasks/MultiArch.Build.Tasks.csproj" -c Release -nologo -v:q >/dev/null
tasks_dll="${MULTIARCH_TASKS_ASSEMBLY:-$root/MultiArch.Build.Tasks/bin/Release/net8.0/MultiArch.Build.Tasks.dll}"
app="$work/app"
mkdir -p "$app"
cat > "$app/Directory.Build.props" <<XML
<Project>
  <PropertyGroup><MultiArchTasksAssembly>$tasks_dll</MultiArchTasksAssembly></PropertyGroup>
  <Import Project="$root/build/MultiArch.Build.Tasks.props" />
</Project>
XML
echo "<Project><Import Project=\"$root/build/MultiArch.Build.Tasks.targets\" /></Project>" > "$app/Directory.Build.targets"
{
  echo '<Project Sdk="Microsoft.NET.Sdk">'
  echo '  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>'
  for s in b c d e; do
    echo "  <ItemGroup Condition=\"'\$(BenchScenario)' == '$s'\">"
    sources "$s" | while read -r p image; do echo "    <ContainerPlatforms Include=\"$p\" Image=\"$image\" />"; done
    echo '  </ItemGroup>'
  done
  # ours-warm: one inspect straight to the registry (not through the proxy, so not counted) first, in the same process
  echo '  <Target Name="BenchWarmUp"><InspectImageManifest Image="$(BenchWarmUpImage)" /></Target>'
  echo '</Project>'
} > "$app/app.csproj"
make_image --dest "$REGISTRY/bench-warm:1" --platforms linux/amd64 --seed bench-warm --single
dotnet restore "$app" -nologo -v:q >/dev/null
if [ -n "${MULTIARCH_BASELINE_ASSEMBLY:-}" ]; then   # the same project, with the baseline's task assembly
  cp -r "$app" "$work/app-baseline"; rm -rf "$work/app-baseline/obj"
  sed -i "s#<MultiArchTasksAssembly>.*</MultiArchTasksAssembly>#<MultiArchTasksAssembly>$MULTIARCH_BASELINE_ASSEMBLY</MultiArchTasksAssembly>#" "$work/app-baseline/Directory.Build.props"
  dotnet restore "$work/app-baseline" -nologo -v:q >/dev/null
fi
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$PROXY;$REGISTRY"

ours() { # scenario variant run
  local s="$1" verify=true log="$work/msbuild.log" project="$app/app.csproj" args
  [ "$2" = ours-noverify ] && verify=false
  [ "$2" = ours-baseline ] && project="$work/app-baseline/app.csproj"
  local first=""
  [ "$2" = ours-warm ] && first="BenchWarmUp;"
  if [ "$s" = a ]; then
    args=("-t:${first}InspectContainerImage" -p:ContainerInspectImage="$PROXY/bench-a:1.0")
  else
    read -r ref t1 t2 <<<"$(target "$s" "$2" "$3")"
    args=("-t:${first}PushContainerManifestList" -p:BenchScenario="$s" -p:ContainerManifestTarget="$ref" -p:ContainerManifestVerifyPlatforms=$verify)
    [ -n "${t1:-}" ] && args+=(-p:ContainerManifestTags="$t1%3B$t2")
  fi
  [ "$2" = ours-warm ] && args+=(-p:BenchWarmUpImage="$REGISTRY/bench-warm:1")
  dotnet msbuild "$project" "${args[@]}" -nologo -tl:off -v:q -fl "-flp:logfile=$log;verbosity=detailed" >/dev/null
  local summary
  summary="$(grep -o 'registry requests in [0-9]* ms.*' "$log" | tail -1)"
  sed -n 's/^registry requests in \([0-9]*\) ms.*/\1/p' <<<"$summary" > "$work/task-ms"
  sed -n 's/.*(\([0-9]*\) ms of processor time).*/\1/p' <<<"$summary" > "$work/task-cpu"
}

# ------------------------------------------------------------------ the peers
iso="$work/containers"
mkdir -p "$iso/home" "$iso/run" "$iso/data" "$iso/config" "$iso/tmp" "$work/docker" "$work/buildx"
echo "" > "$iso/registries.conf"
containers_env=(env -u DOCKER_CONFIG -u REGISTRY_AUTH_FILE HOME="$iso/home" XDG_RUNTIME_DIR="$iso/run" XDG_DATA_HOME="$iso/data" XDG_CONFIG_HOME="$iso/config"
  _CONTAINERS_ROOTLESS_UID=1000 CONTAINERS_REGISTRIES_CONF="$iso/registries.conf")   # per-user blob-info cache, not /var/lib/containers
bh() { "${containers_env[@]}" buildah --root "$iso/buildah" --runroot "$iso/buildah-run" --storage-driver vfs "$@"; }
pm() { "${containers_env[@]}" podman --root "$iso/podman" --runroot "$iso/podman-run" --storage-driver vfs --tmpdir "$iso/tmp" \
  --cgroup-manager cgroupfs --events-backend none "$@"; }
dk() { DOCKER_CONFIG="$work/docker" docker "$@"; }
# shellcheck disable=SC2086  # a peer command may be two words ("docker buildx")
mt() { ${peer_cmd[manifest-tool]} --plain-http --docker-cfg "$work/docker" "$@"; }
# shellcheck disable=SC2086
cr() { HOME="$work/home-crane" DOCKER_CONFIG="$work/docker" ${peer_cmd[crane]} --insecure "$@"; }
# shellcheck disable=SC2086
bx() { DOCKER_CONFIG="$work/buildx" BUILDX_CONFIG="$work/buildx" ${peer_cmd[buildx]} "$@"; }
if has buildx && [ "${peer_cmd[buildx]}" != "docker buildx" ]; then
  bx() { DOCKER_CONFIG="$work/buildx" BUILDX_CONFIG="$work/buildx" "${peer_cmd[buildx]}" "$@"; }
fi

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
mt_spec() { # scenario variant run -> writes the spec (untimed, before the run)
  local ref t1 t2 os arch variant
  read -r ref t1 t2 <<<"$(target "$1" "$2" "$3")"
  {
    echo "image: $ref"
    [ -n "${t1:-}" ] && echo "tags: [\"$t1\", \"$t2\"]"
    echo "manifests:"
    sources "$1" | while read -r p image; do
      IFS=/ read -r os arch variant <<<"$p"
      echo "  - image: $image"
      echo "    platform: {os: $os, architecture: $arch${variant:+, variant: $variant}}"
    done
  } > "$work/spec-$1.yaml"
}
mt_push() { mt push from-spec "$work/spec-$1.yaml" >/dev/null; }
crane_push() { # index append creates the index under the target (children mounted or copied), then one tag per extra tag
  local ref t1 t2 args=()
  read -r ref t1 t2 <<<"$(target "$1" "$2" "$3")"
  while read -r _ image; do args+=(-m "$image"); done < <(sources "$1")
  cr index append -t "$ref" "${args[@]}" >/dev/null 2>&1
  for t in ${t1:+"$t1"} ${t2:+"$t2"}; do cr tag "$ref" "$t" >/dev/null 2>&1; done
}
buildx_push() { # one imagetools create with every tag
  local ref t1 t2 args=(-t)
  read -r ref t1 t2 <<<"$(target "$1" "$2" "$3")"
  args+=("$ref")
  for t in ${t1:+"$t1"} ${t2:+"$t2"}; do args+=(-t "${ref%:*}:$t"); done
  local images=()
  while read -r _ image; do images+=("$image"); done < <(sources "$1")
  bx imagetools create "${args[@]}" "${images[@]}" >/dev/null 2>&1
}
before() { # untimed preparation
  case "$2" in manifest-tool) [ "$1" = a ] || mt_spec "$1" "$2" "$3";; esac
}
after() { # untimed clean-up of local manifest lists
  case "$1" in
    buildah) bh manifest rm "list-$2-$3" >/dev/null 2>&1 || true;;
    podman) pm manifest rm "list-$2-$3" >/dev/null 2>&1 || true;;
    docker) rm -rf "$work/docker/manifests";;
  esac
}

variants() { # scenario -> what runs, ours first
  local all
  case "$1" in
    a) all="manifest-tool buildx docker skopeo";;
    *) all="manifest-tool crane buildx docker buildah podman";;
  esac
  [ "$1" = a ] && echo -n "ours ours-warm" || echo -n "ours ours-noverify ours-warm"
  [ -n "${MULTIARCH_BASELINE_ASSEMBLY:-}" ] && echo -n " ours-baseline"
  for v in $all; do has "$v" && echo -n " $v"; done
  echo
}
run() { # scenario variant run
  local s="$1" v="$2" i="$3"
  case "$v" in
    ours|ours-noverify|ours-warm|ours-baseline) ours "$s" "$v" "$i";;
    manifest-tool) if [ "$s" = a ]; then mt inspect "$PROXY/bench-a:1.0" >/dev/null; else mt_push "$s"; fi;;
    crane) crane_push "$s" "$v" "$i";;
    buildx) if [ "$s" = a ]; then bx imagetools inspect --format '{{json .Manifest}}' "$PROXY/bench-a:1.0" >/dev/null; else buildx_push "$s" "$v" "$i"; fi;;
    docker)
      if [ "$s" = a ]; then dk manifest inspect -v --insecure "$PROXY/bench-a:1.0" >/dev/null; else docker_push "$s" "$v" "$i"; fi;;
    skopeo) skopeo inspect --raw --tls-verify=false "docker://$PROXY/bench-a:1.0" >/dev/null;;
    buildah) containers_push bh "$s" "$v" "$i";;
    podman) containers_push pm "$s" "$v" "$i";;
  esac
}

results="$work/results.tsv"
: > "$results"
loads=()
for i in $(seq 0 "$runs"); do   # run 0 warms up (first JIT, first process start, disk caches) and is not counted
  echo "Run $i of $runs ..." >&2
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  for s in "${wanted[@]}"; do
    for v in $(variants "$s"); do
      rm -f "$work/task-ms" "$work/task-cpu"
      before "$s" "$v" "$i"
      stats reset >/dev/null
      start=$(date +%s%N)
      if ! run "$s" "$v" "$i" 2>"$work/run.err"; then
        echo "$s/$v failed:" >&2; cat "$work/run.err" >&2; exit 1
      fi
      end=$(date +%s%N)
      read -r requests probes depth < <(stats stats | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["probes"], d["depth"])')
      task=$(cat "$work/task-ms" 2>/dev/null || echo "")
      cpu=$(cat "$work/task-cpu" 2>/dev/null || echo "")
      if [ "$s" != a ] && ! verify "$s" "$v" "$i" 2>"$work/verify.err"; then
        echo "$s/$v: the registry does not hold what was pushed:" >&2; cat "$work/verify.err" >&2; exit 1
      fi
      after "$v" "$v" "$i"
      [ "$i" = 0 ] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$v" "$(( (end - start) / 1000000 ))" "${task:--}" "${cpu:--}" "$requests" "$probes" "$depth" >> "$results"
    done
  done
done
loads+=("$(cut -d' ' -f1 /proc/loadavg)")

machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
versions="dotnet $(dotnet --version), docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}')"
for p in "${!peer_cmd[@]}"; do
  case "$p" in
    # shellcheck disable=SC2086
    manifest-tool) versions+=", manifest-tool (${MANIFEST_TOOL_VERSION:-$(${peer_cmd[$p]} --version 2>/dev/null | awk '{print $3}')})";;
    # shellcheck disable=SC2086
    crane) versions+=", crane ${CRANE_VERSION:-$(${peer_cmd[$p]} version 2>/dev/null)}";;
    # shellcheck disable=SC2086
    buildx) versions+=", buildx ${BUILDX_VERSION:-$(${peer_cmd[$p]} version 2>/dev/null | awk '{print $2}')}";;
    docker) versions+=", docker $(docker --version 2>/dev/null | awk '{print $3}' | tr -d ,)";;
    buildah|podman|skopeo) versions+=", $p $($p --version | awk '{print $3}')";;
  esac
done
python3 - "$results" "$runs" "$latency" "$machine" "$versions" "${loads[*]}" <<'PY' | tee "${output:-/dev/null}"
import statistics, sys, datetime
path, runs, latency, machine, versions, loads = sys.argv[1:7]
rows = {}
for line in open(path):
    s, v, wall, task, cpu, req, probes, depth = line.rstrip("\n").split("\t")
    rows.setdefault((s, v), []).append((int(wall), None if task == "-" else int(task), int(req), int(probes), int(depth), None if cpu == "-" else int(cpu)))
label = {
    "ours": "**ours** (VerifyPlatforms=true)", "ours-noverify": "**ours** (VerifyPlatforms=false)",
    "ours-baseline": "ours, baseline (VerifyPlatforms=true)",
    "ours-warm": "ours, second task in the build (VerifyPlatforms=true)",
    "manifest-tool": "manifest-tool", "crane": "crane", "buildx": "buildx imagetools",
    "docker": "docker manifest", "buildah": "buildah manifest", "podman": "podman manifest", "skopeo": "skopeo inspect --raw (list only)",
}
title = {
    "a": "a. inspect a 10-platform list with its child manifests",
    "b": "b. push 3 sources from the target's repository, T=2",
    "c": "c. push 10 sources from the target's repository, T=2",
    "d": "d. push 10 sources from 10 other repositories into a new one",
    "e": "e. push 50 sources from the target's repository, T=2",
}
order = ("ours", "ours-noverify", "ours-warm", "ours-baseline", "manifest-tool", "crane", "buildx", "docker", "buildah", "podman", "skopeo")
ran = [v for v in order[4:] if any(k[1] == v for k in rows)]
load = [float(x) for x in loads.split()]
med = lambda xs: statistics.median(xs)
print(f"Median of {runs} runs, round-robin; {latency} ms added to every request (TLS probes too) by eng/latency-proxy.py; "
      f"{datetime.date.today().isoformat()}; {machine}; load average (1 min) {min(load):.1f}–{max(load):.1f} during the runs; "
      f"peers that ran: {', '.join(ran) or 'none'}; {versions}.\n")
print("| scenario | tool | task time | task processor time | process time | requests (+TLS probes) | sequential depth | task / fastest peer | process / fastest peer |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for s in "abcde":
    variants = [v for v in order if (s, v) in rows]
    if not variants:
        continue
    # The same work: every peer but the list-only skopeo read.
    peers = [v for v in variants if not v.startswith("ours") and v != "skopeo"]
    times = {v: med([r[0] for r in rows[(s, v)]]) for v in peers}
    fastest = min(times.values(), default=None)
    for v in variants:
        data = rows[(s, v)]
        wall = med([r[0] for r in data])
        tasks = [r[1] for r in data if r[1] is not None]
        task = med(tasks) if tasks else None
        cpus = [r[5] for r in data if r[5] is not None]
        cpu = f"{med(cpus):g} ms" if cpus else ""
        req, probes, depth = med([r[2] for r in data]), med([r[3] for r in data]), med([r[4] for r in data])
        fmt = lambda x: f"{x:g}"
        ratio_task = f"{task / fastest:.2f}×" if task is not None and fastest else ""
        ratio_wall = f"{wall / fastest:.2f}×" if fastest and v not in peers else ""
        name = ("**ours** (InspectContainerImage)" if s == "a" and v == "ours" else "ours, baseline (InspectContainerImage)" if s == "a" and v == "ours-baseline"
                else "ours, second task in the build (InspectContainerImage)" if s == "a" and v == "ours-warm" else label[v])
        if v in peers and times[v] == fastest:
            name += " (fastest peer)"
        print(f"| {title[s] if v == variants[0] else ''} | {name} | {f'{task:g} ms' if task is not None else ''} | {cpu} | {wall:g} ms | "
              f"{fmt(req)}{f' (+{fmt(probes)})' if probes else ''} | {fmt(depth)} | {ratio_task} | {ratio_wall} |")
PY
