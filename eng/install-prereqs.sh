#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian/Ubuntu machine:
# the CNCF distribution registry, skopeo and the docker CLI (independent clients), htpasswd, openssl, python3, curl,
# tmux (and stress-ng for eng/test-loaded.sh).
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
# The interop tests read what we push with the docker CLI (`docker manifest inspect` needs no engine).
command -v docker >/dev/null || need+=(docker.io)
# The terminal test runs the README's commands in a real pseudo-terminal.
command -v tmux >/dev/null || need+=(tmux)
# eng/test-loaded.sh keeps the cores busy while the suite runs.
if [ "${NEED_STRESS_NG:-}" = 1 ]; then command -v stress-ng >/dev/null || need+=(stress-ng); fi
if ((${#need[@]})); then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  echo "Installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null || { echo "The .NET SDK 10 is required (https://dot.net)." >&2; exit 1; }
