# Shared by eng/bench-registry.sh and eng/bench-cli.sh: the run's folder, a loopback docker-registry behind
# eng/latency-proxy.py, the peers' binaries, and the images of scenarios a-e (made by testassets/base-image/make-image.py,
# Docker format so that every peer reads them, straight into the registry, not through the proxy).
#
#   source eng/lib/bench.sh
#   bench_work NAME                 a temp folder in $work, removed (with the registry and the proxy) on exit
#   bench_registry LATENCY_MS       starts both: REGISTRY (the registry's host:port), PROXY (the proxy's host:port)
#   find_peer NAME                  the command that runs a peer (manifest-tool, crane, buildx, or any on PATH), or nothing
#   seed_images a,b,c,d,e           the scenarios' images (untimed)
#   sources SCENARIO                one "platform image" line per source of a push scenario (b-e), through the proxy
# shellcheck source=eng/lib/registry.sh
source "$(dirname "${BASH_SOURCE[0]}")/registry.sh"
bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0

bench_work() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  proxy_pid=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  stop_registry "$work"
  rm -rf "$work"
}

bench_registry() {
  start_registry "$work"
  python3 "$bench_root/eng/latency-proxy.py" --upstream "$REGISTRY" --latency-ms "$1" --port-file "$work/proxy.port" 2>"$work/proxy.log" &
  proxy_pid=$!
  for _ in $(seq 1 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
  if [ ! -s "$work/proxy.port" ]; then echo "eng/latency-proxy.py did not start; its log:" >&2; cat "$work/proxy.log" >&2; return 1; fi
  PROXY="127.0.0.1:$(cat "$work/proxy.port")"
}

find_peer() { # name -> the command that runs it, or nothing
  case "$1" in
    manifest-tool) [ -n "${MANIFEST_TOOL:-}" ] && echo "$MANIFEST_TOOL" || command -v manifest-tool || true;;
    crane) [ -n "${CRANE:-}" ] && echo "$CRANE" || command -v crane || true;;
    buildx)
      if [ -n "${BUILDX:-}" ]; then echo "$BUILDX"
      elif command -v docker-buildx >/dev/null; then command -v docker-buildx
      elif docker buildx version >/dev/null 2>&1; then echo "docker buildx"
      fi;;
    *) command -v "$1" || true;;
  esac
}

# ------------------------------------------------------------------ the scenarios' images
platforms10=(linux/amd64 linux/arm64/v8 linux/arm/v7 linux/arm/v6 linux/386 linux/ppc64le linux/s390x linux/riscv64 linux/mips64le linux/mips64)
platforms3=("${platforms10[@]:0:3}")
platforms50=()
for os in linux freebsd netbsd openbsd solaris; do   # every os/arch pair manifest-tool v2 accepts
  for arch in amd64 arm64 386 ppc64le s390x riscv64 mips64le mips64 ppc64 mips; do platforms50+=("$os/$arch"); done
done
join() { local IFS=,; echo "$*"; }
slug() { echo "${1//\//-}"; }                       # linux/arm64/v8 -> linux-arm64-v8 (make-image.py's per-platform tags)
repo_d() { local p="${1#*/}"; echo "bench-d-${p//\//}"; }   # linux/arm64/v8 -> bench-d-arm64v8
make_image() { python3 "$bench_root/testassets/base-image/make-image.py" --format docker --tls-verify false "$@" >/dev/null; }

seed_images() { # scenarios
  echo "Seeding images into $REGISTRY ..." >&2
  case ",$1," in *,a,*) make_image --dest "$REGISTRY/bench-a:1.0" --platforms "$(join "${platforms10[@]}")" --seed bench-a;; esac
  case ",$1," in *,b,*) make_image --dest "$REGISTRY/bench-b:src" --platforms "$(join "${platforms3[@]}")" --seed bench-b --per-platform-tags;; esac
  case ",$1," in *,c,*) make_image --dest "$REGISTRY/bench-c:src" --platforms "$(join "${platforms10[@]}")" --seed bench-c --per-platform-tags;; esac
  case ",$1," in *,d,*) for p in "${platforms10[@]}"; do make_image --dest "$REGISTRY/$(repo_d "$p"):1" --platforms "$p" --seed bench-d --single; done;; esac
  case ",$1," in *,e,*) make_image --dest "$REGISTRY/bench-e:src" --platforms "$(join "${platforms50[@]}")" --seed bench-e --per-platform-tags;; esac
}

sources() { # scenario -> one "platform image" line per source, through the proxy
  case "$1" in
    b) for p in "${platforms3[@]}"; do echo "$p $PROXY/bench-b:src-$(slug "$p")"; done;;
    c) for p in "${platforms10[@]}"; do echo "$p $PROXY/bench-c:src-$(slug "$p")"; done;;
    d) for p in "${platforms10[@]}"; do echo "$p $PROXY/$(repo_d "$p"):1"; done;;
    e) for p in "${platforms50[@]}"; do echo "$p $PROXY/bench-e:src-$(slug "$p")"; done;;
  esac
}
