#!/usr/bin/env bash
# Benchmark (not a test): PublishMultiArchContainer against the SDK's own multi-RID container publish
# (RuntimeIdentifiers set, -t:PublishContainer), same project, the same platforms, same local registry, alternating,
# warm, both with no change and after a source edit, and ours again with one compile per platform
# (ContainerPublishCompileOnce=false). Prints the medians, their ratios and the load average.
#   eng/bench-publish.sh [runs-per-scenario] [rids]   (default 5, linux-x64,linux-arm64; linux-x64 alone: one platform)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
rids="${2:-linux-x64,linux-arm64}"
platforms="$(echo "$rids" | sed 's#linux-x64#linux/amd64#; s#linux-arm64#linux/arm64/v8#; s#linux-arm\b#linux/arm/v7#')"
source "$root/eng/lib/registry.sh"
"$root/eng/install-prereqs.sh" >/dev/null
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_USE_MSBUILD_SERVER=0

work="$(mktemp -d)"
trap 'stop_registry "$work"; rm -rf "$work"' EXIT
start_registry "$work"
export DOTNET_CONTAINER_INSECURE_REGISTRIES="$REGISTRY"
python3 "$root/testassets/base-image/make-image.py" --dest "$REGISTRY/base:1.0" --platforms "$platforms" --tls-verify false >/dev/null

dotnet build "$root/MultiArch.Build.Tasks/MultiArch.Build.Tasks.csproj" -c Release -nologo -v:q >/dev/null
app="$work/app"
mkdir -p "$app"
cp "$root/testassets/SampleApp/Program.cs" "$root/testassets/SampleApp/SampleApp.csproj" "$app/"
sed -i "s#<ContainerImageTags>.*</ContainerImageTags>##; s#<RuntimeIdentifiers>.*</RuntimeIdentifiers>#<RuntimeIdentifiers>${rids//,/;}</RuntimeIdentifiers>#; s#<ContainerPlatforms Include=.*##" "$app/SampleApp.csproj"
cat > "$app/Directory.Build.props" <<XML
<Project>
  <PropertyGroup><MultiArchTasksAssembly>$root/MultiArch.Build.Tasks/bin/Release/net8.0/MultiArch.Build.Tasks.dll</MultiArchTasksAssembly></PropertyGroup>
  <Import Project="$root/build/MultiArch.Build.Tasks.props" />
</Project>
XML
echo "<Project><Import Project=\"$root/build/MultiArch.Build.Tasks.targets\" /></Project>" > "$app/Directory.Build.targets"
common=(-p:ContainerRegistry="$REGISTRY" -p:ContainerBaseImage="$REGISTRY/base:1.0" -nologo -v:q -tl:off)
# One copy per way of compiling, so that no variant finds the obj folder as another one left it.
cp -r "$app" "$work/app2"   # ours with one compile per platform
cp -r "$app" "$work/app3"   # the SDK
for dir in "$app" "$work/app2" "$work/app3"; do dotnet restore "$dir" -nologo -v:q >/dev/null; done

ours_publish() { dotnet publish "$app" -t:PublishMultiArchContainer -p:ContainerImageTag=ours "${common[@]}" >/dev/null; }
ours_build() { dotnet build "$app" -c Release -t:PublishMultiArchContainer -p:ContainerImageTag=oursb "${common[@]}" >/dev/null; }
ours_percompile() { dotnet build "$work/app2" -c Release -t:PublishMultiArchContainer -p:ContainerPublishCompileOnce=false -p:ContainerImageTag=oursc "${common[@]}" >/dev/null; }
sdk() { dotnet publish "$work/app3" -t:PublishContainer -p:ContainerImageTag=sdk "${common[@]}" >/dev/null; }
dir_of() { case $1 in ours_percompile) echo "$work/app2";; sdk) echo "$work/app3";; *) echo "$app";; esac; }
edit() { echo "// edit $RANDOM$RANDOM" >> "$(dir_of "$1")/Program.cs"; }   # the variant's own copy only
seconds() { local start end; start=$(date +%s.%N); "$@"; end=$(date +%s.%N); echo "$end - $start" | bc; }

declare -A times
for variant in ours_publish ours_build ours_percompile sdk; do $variant; done   # warm-up: restore, first compile, base image cached
for i in $(seq 1 "$runs"); do
  for variant in ours_publish ours_build ours_percompile sdk; do
    times[$variant.noop]+="$(seconds $variant) "
    edit $variant
    times[$variant.edit]+="$(seconds $variant) "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '\n%-58s %10s %10s\n' "median of $runs, seconds ($platforms)" "no change" "after edit"
for variant in sdk ours_publish ours_build ours_percompile; do
  case $variant in
    sdk) label="SDK: dotnet publish -t:PublishContainer (RuntimeIdentifiers)";;
    ours_publish) label="ours: dotnet publish -t:PublishMultiArchContainer";;
    ours_build) label="ours: dotnet build -c Release -t:PublishMultiArchContainer";;
    ours_percompile) label="ours: the same, ContainerPublishCompileOnce=false";;
  esac
  declare "m_${variant}_noop=$(echo "${times[$variant.noop]}" | median)"
  declare "m_${variant}_edit=$(echo "${times[$variant.edit]}" | median)"
  eval "printf '%-58s %10.2f %10.2f\n' \"$label\" \$m_${variant}_noop \$m_${variant}_edit"
done
printf '%-58s %10.2f %10.2f\n' "ratio ours(publish)/SDK" "$(echo "$m_ours_publish_noop / $m_sdk_noop" | bc -l)" "$(echo "$m_ours_publish_edit / $m_sdk_edit" | bc -l)"
printf '%-58s %10.2f %10.2f\n' "ratio ours(build)/SDK" "$(echo "$m_ours_build_noop / $m_sdk_noop" | bc -l)" "$(echo "$m_ours_build_edit / $m_sdk_edit" | bc -l)"
printf '%-58s %10.2f %10.2f\n' "ratio ours(build, one compile per platform)/SDK" "$(echo "$m_ours_percompile_noop / $m_sdk_noop" | bc -l)" "$(echo "$m_ours_percompile_edit / $m_sdk_edit" | bc -l)"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
# A compile costs a new compiler process each time where UseSharedCompilation=false (1.2-1.3 s for the sample app on a
# quiet 2-core machine), a fraction of that with the compiler server: the ratios after an edit depend on it.
printf 'compiler: %s\n' "$([ "${UseSharedCompilation:-}" = false ] && echo 'a new csc process per compile (UseSharedCompilation=false)' || echo 'the compiler server (VBCSCompiler)')"
