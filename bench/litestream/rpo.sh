#!/usr/bin/env bash
# Measures the recovery point of Lookout replicated by Litestream: Lookout
# writes ~200 probe results a second (probes of its own /healthz), Litestream
# replicates the database to a file replica (sync-interval 1s, its default),
# and both are killed with SIGKILL at the same instant, as when the host is
# lost. The replica is restored and its newest result compared with the
# newest one the dead database had committed.
#
#   go build -o /tmp/lookout ./cmd/lookout
#   go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18
#   bash bench/litestream/rpo.sh /tmp/lookout "$(go env GOPATH)/bin/litestream" [ROUNDS]
#
# Needs sqlite3 (Debian package sqlite3). Not run in CI.
set -euo pipefail
lookout=${1:?path to lookout}; litestream=${2:?path to litestream}; rounds=${3:-5}
dir=$(mktemp -d); trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
{
  echo "storage: {flush_interval: 100ms, flush_size: 500}"
  echo "organizations:"
  echo "  - {id: rpo, name: RPO, egress: {allow: [\"127.0.0.0/8\"]}, components: [{id: c, name: C}], probes: ["
  for i in $(seq 0 199); do
    echo "    {id: p$i, component: c, interval: 1s, timeout: 800ms, http: {url: \"http://127.0.0.1:$port/healthz?p=$i\"}},"
  done
  echo "  ]}"
} > "$dir/rpo.yaml"
printf "%5s %12s %12s %10s %12s\n" round committed restored lost_rows lost_seconds
for r in $(seq 1 "$rounds"); do
  rm -rf "$dir/data" "$dir/replica" "$dir/restored.db"
  mkdir -p "$dir/data"
  "$lookout" serve --config "$dir/rpo.yaml" --data "$dir/data" --listen "127.0.0.1:$port" >/dev/null 2>"$dir/lookout.log" &
  lpid=$!
  until [ -f "$dir/data/lookout.db" ]; do sleep 0.1; done
  sleep 1
  "$litestream" replicate "$dir/data/lookout.db" "file://$dir/replica" >"$dir/litestream.log" 2>&1 &
  spid=$!
  sleep $((15 + RANDOM % 10)).$((RANDOM % 10))
  kill -9 "$lpid" "$spid"; wait "$lpid" "$spid" 2>/dev/null || true
  read -r cid cat < <(sqlite3 -separator ' ' "$dir/data/lookout.db" "SELECT max(id), max(started_at) FROM results")
  "$litestream" restore -o "$dir/restored.db" "file://$dir/replica" >>"$dir/litestream.log" 2>&1
  read -r rid rat < <(sqlite3 -separator ' ' "$dir/restored.db" "SELECT coalesce(max(id),0), coalesce(max(started_at),0) FROM results")
  integrity=$(sqlite3 "$dir/restored.db" "PRAGMA integrity_check")
  [ "$integrity" = ok ] || { echo "round $r: restored database: $integrity"; exit 1; }
  printf "%5d %12d %12d %10d %12.1f\n" "$r" "$cid" "$rid" $((cid - rid)) "$(echo "($cat - $rat) / 1000" | bc -l)"
done
