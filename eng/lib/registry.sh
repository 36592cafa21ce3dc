# Shared shell helpers for eng/ scripts: a throwaway docker-registry on a free loopback port.
# Usage: source eng/lib/registry.sh; start_registry DIR  -> sets REGISTRY (host:port); stop_registry DIR

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_registry() {
  local dir="$1" port
  port="$(free_port)"
  mkdir -p "$dir/storage"
  cat > "$dir/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
  echo $! > "$dir/registry.pid"
  REGISTRY="127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "docker-registry did not start; its log:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

stop_registry() {
  local dir="$1"
  if [ -f "$dir/registry.pid" ]; then
    kill "$(cat "$dir/registry.pid")" 2>/dev/null || true
    wait "$(cat "$dir/registry.pid")" 2>/dev/null || true
    rm -f "$dir/registry.pid"
  fi
}
