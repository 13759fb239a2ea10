#!/usr/bin/env bash
# Measures flotilla-agent as it runs on an endpoint: release binary size, startup time (start
# to enrolled and osqueryd launched), and resident memory and CPU while idle, against a local
# flotilla-local on loopback with a stand-in osqueryd (its own CPU is not counted).
#
#   agent/measure.sh            # idle for 60 s
#   IDLE_SECONDS=300 agent/measure.sh
#
# Targets (issue 4): idle RSS < 15 MB, idle CPU < 0.1% of a core, binary < 15 MB.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IDLE_SECONDS="${IDLE_SECONDS:-60}"
cd "$ROOT"
cargo build --release -q -p agent -p flotilla-local
AGENT="$ROOT/target/release/flotilla-agent"
SERVER="$ROOT/target/release/flotilla-local"

WORK="$(mktemp -d)"
cleanup() {
    [[ -n "${AGENT_PID:-}" ]] && kill "$AGENT_PID" 2>/dev/null || true
    [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
SECRET="measure-$RANDOM$RANDOM"
FLOTILLA_ENROLL_SECRET="$SECRET" "$SERVER" --addr "127.0.0.1:$PORT" --data-dir "$WORK/server" >/dev/null 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
    sleep 0.1
done

# A stand-in osqueryd that stays up (idle) once started.
OSQ="$WORK/orbit/bin/osqueryd/linux/stable"
mkdir -p "$OSQ"
cat >"$OSQ/osqueryd" <<'EOF'
#!/bin/sh
[ "$1" = "-S" ] && { echo '[{"uuid":"4D4E5A00-0000-0000-0000-000000000001","hostname":"measure","platform":"ubuntu"}]'; exit 0; }
exec sleep 100000
EOF
chmod 755 "$OSQ/osqueryd"
echo -n "$SECRET" >"$WORK/secret.txt"

started=$(date +%s%N)
"$AGENT" --fleet-url "http://127.0.0.1:$PORT" --enroll-secret-path "$WORK/secret.txt" \
    --root-dir "$WORK/orbit" --disable-updates --fleet-desktop 2>"$WORK/agent.log" &
AGENT_PID=$!
until [[ -s "$WORK/orbit/secret-orbit-node-key.txt" && -s "$WORK/orbit/identifier" ]] \
    && pgrep -P "$AGENT_PID" >/dev/null; do
    sleep 0.005
    if (( ($(date +%s%N) - started) > 30000000000 )); then
        echo "the agent did not enroll within 30 s; its log:" >&2
        cat "$WORK/agent.log" >&2
        exit 1
    fi
done
startup_ms=$(( ($(date +%s%N) - started) / 1000000 ))

ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }
hz=$(getconf CLK_TCK)
sleep 2 # let start-up work settle
t0=$(ticks); s0=$(date +%s%N)
sleep "$IDLE_SECONDS"
t1=$(ticks); s1=$(date +%s%N)
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
hwm_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status")
size=$(stat -c %s "$AGENT")

awk -v size="$size" -v startup="$startup_ms" -v rss="$rss_kb" -v hwm="$hwm_kb" \
    -v arch="$(uname -m)" -v ticks=$((t1 - t0)) -v hz="$hz" -v ns=$((s1 - s0)) -v idle="$IDLE_SECONDS" 'BEGIN {
    printf "flotilla-agent (release, %s)\n", arch
    printf "  binary size         %6.1f MB\n", size / 1e6
    printf "  startup             %6d ms (start to enrolled, desktop token set, osqueryd launched)\n", startup
    printf "  idle RSS            %6.1f MB (peak %.1f MB)\n", rss / 1024, hwm / 1024
    printf "  idle CPU            %6.3f %% of a core over %d s (config every 30 s)\n", 100 * (ticks / hz) / (ns / 1e9), idle
}'
