#!/usr/bin/env bash
# Packs MultiArch.Build.Tasks and the multiarch tool (MultiArch.Tool) into one folder and prints the path of the task
# package's .nupkg as the last line on stdout, the tool package's on the line before (the build log goes to stderr).
#
#   eng/pack.sh [--version VERSION] [--output DIR] [more dotnet pack arguments]
#
# The tool is compiled Native AOT for linux-x64 when this is a linux-x64 machine with clang (Debian: clang, zlib1g-dev)
# and MULTIARCH_TOOL_AOT is not 0: then the folder holds MultiArch.Tool (which names the per-platform packages),
# MultiArch.Tool.linux-x64 (native) and MultiArch.Tool.any (framework-dependent, for every other platform). Otherwise
# MultiArch.Tool is one framework-dependent package.
#
# --output defaults to artifacts/packages; --version to the Version in Directory.Build.props. Anything else is passed to
# `dotnet pack` (the end-to-end tests add --artifacts-path and -bl:FILE so they never touch the repository's bin/ and obj/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
project="$root/MultiArch.Build.Tasks/MultiArch.Build.Tasks.csproj"
tool_project="$root/MultiArch.Tool/MultiArch.Tool.csproj"
output="$root/artifacts/packages"
version=""
extra=()
while (($#)); do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --output|-o) output="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0
if [ -z "$version" ]; then
  version="$(dotnet msbuild "$project" -nologo -getProperty:Version)"
fi
mkdir -p "$output"
output="$(cd "$output" && pwd)"
dotnet pack "$project" -c Release -o "$output" -p:Version="$version" -nr:false -tl:off -v:m -nologo ${extra[@]+"${extra[@]}"} >&2
# tool_pack NAME [arguments]: one pack of the tool, with a binary log of its own (NAME in its file name) if one was asked for.
tool_pack() {
  local name="$1" arg arguments=()
  shift
  for arg in ${extra[@]+"${extra[@]}"}; do
    case "$arg" in
      -bl:*) arguments+=("${arg%.binlog}.tool-$name.binlog") ;;
      *) arguments+=("$arg") ;;
    esac
  done
  dotnet pack "$tool_project" -c Release -o "$output" -p:Version="$version" -nr:false -tl:off -v:m -nologo "$@" ${arguments[@]+"${arguments[@]}"} >&2
}
if [ "${MULTIARCH_TOOL_AOT:-1}" != 0 ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && command -v clang >/dev/null; then
  tool_pack pointer -p:MultiArchToolAot=true              # MultiArch.Tool: names the packages below
  tool_pack any -p:MultiArchToolAot=true -r any            # MultiArch.Tool.any: framework-dependent fallback
  tool_pack linux-x64 -p:MultiArchToolAot=true -r linux-x64  # MultiArch.Tool.linux-x64: Native AOT
else
  tool_pack any
fi
package="$output/MultiArch.Build.Tasks.$version.nupkg"
tool_package="$output/MultiArch.Tool.$version.nupkg"
[ -f "$package" ] || { echo "pack.sh: $package was not created" >&2; exit 1; }
[ -f "$tool_package" ] || { echo "pack.sh: $tool_package was not created" >&2; exit 1; }
echo "$tool_package"
echo "$package"
