#!/usr/bin/env bash
# The main job end to end, printed step by step, on a fresh Debian/Ubuntu machine with the .NET SDK 10:
#   1. a private docker-registry on a free loopback port, temp storage (stopped and removed on exit)
#   2. images seeded with testassets/base-image/make-image.py: per-platform images and an OCI index with an attestation,
#      and a Docker-format set
#   3. the package packed by eng/pack.sh into a local feed, and a temp project that references it
#   4. dotnet msbuild -t:InspectContainerImage on the index
#   5. dotnet msbuild -t:PushContainerManifestList from a YAML spec: the per-platform images stitched into a new index
#      with two more tags, then that index inspected; the Docker set stitched into a Docker manifest list from arguments
#   6. dotnet publish -t:PublishMultiArchContainer on testassets/SampleApp: linux/amd64 and linux/arm64 built through the
#      SDK's own container support on a locally made base image, linux/arm/v7 joined from an existing image; inspected
# Ends with "Done in N s" and exit code 0; any failure stops it with the registry log's tail.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0
started=$SECONDS
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step "Prerequisites (eng/install-prereqs.sh)"
"$root/eng/install-prereqs.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/multiarch-demo.XXXXXX")"
registry_pid=""
cleanup() {
  local status=$?
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  if [ "$status" != 0 ] && [ -f "$work/registry.log" ]; then
    echo "--- registry log (last 20 lines) ---" >&2
    tail -n 20 "$work/registry.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "A local registry with temp storage"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
host="127.0.0.1:$port"
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $host
EOF
env -u REGISTRY_AUTH_FILE docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
python3 - "$host" <<'EOF'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit(f"the registry on {sys.argv[1]} did not answer within 15 s")
EOF
echo "docker-registry (pid $registry_pid) listening on http://$host"
# A plain-HTTP registry other than localhost must be listed, as for the .NET SDK.
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$host"

step "Seed images (testassets/base-image/make-image.py, pushed by skopeo)"
make_image() { python3 "$root/testassets/base-image/make-image.py" --tls-verify false "$@"; }
echo "demo/app:1.0          OCI index: linux/amd64, linux/arm64/v8, linux/arm/v7 + an attestation; single images tagged 1.0-<platform>"
make_image --dest "$host/demo/app:1.0" --platforms linux/amd64,linux/arm64/v8,linux/arm/v7 --attestation --per-platform-tags --seed demo
echo "demo/app-docker:1.0   Docker manifest list: linux/arm64/v8, linux/arm/v7; single images tagged 1.0-<platform>"
make_image --dest "$host/demo/app-docker:1.0" --platforms linux/arm64/v8,linux/arm/v7 --format docker --per-platform-tags --seed demo-docker

step "Pack the package (eng/pack.sh) into a local feed"
package="$("$root/eng/pack.sh" --output "$work/feed" --artifacts-path "$work/pack-build" 2> "$work/pack.log")" || { cat "$work/pack.log" >&2; exit 1; }
version="$(basename "$package" .nupkg)"
version="${version#MultiArch.Build.Tasks.}"
echo "$package"

step "A project that references MultiArch.Build.Tasks $version"
project="$work/app"
mkdir -p "$project"
cat > "$project/app.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="MultiArch.Build.Tasks" Version="$version" PrivateAssets="all" />
  </ItemGroup>
</Project>
EOF
cat > "$project/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="MultiArch.Build.Tasks" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
EOF
cat "$project/app.csproj"
cd "$project"
export NUGET_PACKAGES="$work/packages"
show dotnet restore -nologo -v:q
# -tl:off -v:m: the console a CI log shows. The inspect output is a High-importance message, which the terminal
# logger (the default on an interactive terminal) shows only at -v:d.
msbuild() { show dotnet msbuild -nologo -nr:false -tl:off -v:m "$@"; }

step "Inspect the OCI index (text, manifest-tool's layout)"
msbuild -t:InspectContainerImage -p:ContainerInspectImage="$host/demo/app:1.0"

step "Push a new index from a manifest-tool YAML spec"
cat > "$project/manifest.yaml" <<EOF
image: $host/demo/app:2.0
tags: ["2", "latest"]
manifests:
  - image: $host/demo/app:1.0-linux-amd64
    platform: { os: linux, architecture: amd64 }
  - image: $host/demo/app:1.0-linux-arm64-v8
    platform: { os: linux, architecture: arm64, variant: v8 }
  - image: $host/demo/app:1.0-linux-arm-v7
    platform: { os: linux, architecture: arm, variant: v7 }
EOF
cat "$project/manifest.yaml"
msbuild -t:PushContainerManifestList -p:ContainerManifestSpec=manifest.yaml -p:ContainerManifestDigestFile=pushed.digest
echo "digest file: $(cat pushed.digest)"

step "Every tag of the spec points at the pushed index"
for tag in 2.0 2 latest; do
  printf '%-32s %s\n' "demo/app:$tag" "$(dotnet msbuild -nologo -nr:false -t:InspectContainerImage -p:ContainerInspectImage="$host/demo/app:$tag" -getProperty:ContainerInspectedDigest)"
done

step "Inspect what was pushed, by its new tag"
msbuild -t:InspectContainerImage -p:ContainerInspectImage="$host/demo/app:latest" \
  -p:ContainerInspectRequiredPlatforms='"linux/amd64;linux/arm64;linux/arm/v7"'

step "Stitch the Docker-format images into a Docker manifest list from arguments, then inspect it as JSON"
msbuild -t:PushContainerManifestList -p:ContainerManifestPlatforms='"linux/arm64/v8,linux/arm/v7"' \
  -p:ContainerManifestTemplate="$host/demo/app-docker:1.0-OS-ARCH-VARIANT" -p:ContainerManifestTarget="$host/demo/app-docker:2.0"
msbuild -t:InspectContainerImage -p:ContainerInspectImage="$host/demo/app-docker:2.0" -p:ContainerInspectFormat=json

step "Publish the sample app for linux/amd64 and linux/arm64, with linux/arm/v7 from an existing image"
echo "demo/base:1.0          OCI index: linux/amd64, linux/arm64/v8 (the base image, made locally)"
make_image --dest "$host/demo/base:1.0" --platforms linux/amd64,linux/arm64/v8 --seed demo-base
sample="$work/sample"
mkdir -p "$sample"
cp "$root/testassets/SampleApp/Program.cs" "$sample/"
cp "$project/nuget.config" "$sample/"
sed -e "s#</Project>#  <ItemGroup>\n    <PackageReference Include=\"MultiArch.Build.Tasks\" Version=\"$version\" PrivateAssets=\"all\" />\n    <ContainerPlatforms Include=\"linux/arm/v7\" Image=\"$host/demo/app:1.0-linux-arm-v7\" />\n  </ItemGroup>\n</Project>#" \
  "$root/testassets/SampleApp/SampleApp.csproj" > "$sample/SampleApp.csproj"
sed -n '/<PropertyGroup>/,$p' "$sample/SampleApp.csproj"
cd "$sample"
show dotnet publish -nologo -nr:false -tl:off -v:m -t:PublishMultiArchContainer \
  -p:ContainerRegistry="$host" -p:ContainerBaseImage="$host/demo/base:1.0"
msbuild -t:InspectContainerImage -p:ContainerInspectImage="$host/sampleapp:1.0.0" \
  -p:ContainerInspectRequiredPlatforms='"linux/amd64;linux/arm64/v8;linux/arm/v7"'

step "Done in $((SECONDS - started)) s"
