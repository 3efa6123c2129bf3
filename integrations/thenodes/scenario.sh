#!/usr/bin/env bash
# The restart scenario, with real TheNodes processes built from the patched tree:
#   1. cold start: a bootstrap node B and nodes N1..N3 (bootstrap_nodes = [B]) until every
#      node's peer file holds the other three;
#   2. all stop (SIGINT); N1..N3 restart with B down, and each connects to at least one peer
#      its file names (B excepted);
#   3. the same two steps again in a sealed realm (key file from `knownpeers keygen`);
#   4. a fresh node N5 stopped by SIGINT about 1 s after its first handshake has B in its file.
# Files are checked with the knownpeers CLI (`verify`, `export`). Only 127.0.0.1 is dialled or
# advertised (TheNodes 0.4.0's listener itself binds 0.0.0.0:<port>; it has no bind address
# setting). Every wait is bounded; only the PIDs started here are signalled; an EXIT trap stops
# whatever still runs.
#
# usage: scenario.sh THENODES_BIN KNOWNPEERS_BIN WORK_DIR
set -euo pipefail

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
THENODES=$(abs "$1")
KP=$(abs "$2")
DIR=$(abs "$3")
WAIT_LEARN=${SCENARIO_WAIT_LEARN:-40}     # seconds for a cold start to converge
WAIT_RECONNECT=${SCENARIO_WAIT_RECONNECT:-40}
WAIT_STOP=10                              # seconds a SIGINT'ed node has to exit
# The realm phases watch the files converge while the nodes run, so they save every second;
# the SIGINT phase saves every 10 minutes, so what it finds on disk can only come from the
# save soon after the first change and the final save at shutdown.
SAVE_INTERVAL=1

rm -rf "$DIR"
mkdir -p "$DIR"
declare -A PID=() PORT=()
ROWS=()
FAILED=0

cleanup() {
  local name
  for name in "${!PID[@]}"; do
    kill -KILL "${PID[$name]}" 2>/dev/null || true
  done
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; FAILED=1; }
now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.2f s", (b - a) / 1000 }'; }

# Ports: one free block of 5 on 127.0.0.1 (nothing answers a connect to any of them).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
  local try base ok p
  for try in $(seq 1 50); do
    # Below Linux's ephemeral range (32768-60999), so no outgoing connection holds one.
    base=$((20000 + (RANDOM * 7 + $$) % 12000))
    ok=1
    for p in $(seq "$base" $((base + 4))); do port_free "$p" || { ok=0; break; }; done
    if [ "$ok" = 1 ]; then
      PORT[B]=$base; PORT[N1]=$((base + 1)); PORT[N2]=$((base + 2)); PORT[N3]=$((base + 3))
      PORT[N5]=$((base + 4))
      return 0
    fi
  done
  echo "scenario: no free block of 5 ports found" >&2
  exit 1
}

# write_config PHASE NAME REALM SEALED(0|1)
write_config() {
  local phase=$1 name=$2 realm=$3 sealed=$4 d="$DIR/$1/$2"
  mkdir -p "$d/state"
  {
    echo "port = ${PORT[$name]}"
    echo "app_name = \"kp-it\""
    [ "$name" != B ] && echo "bootstrap_nodes = [\"127.0.0.1:${PORT[B]}\"]"
    cat <<EOF

[realm]
name = "$realm"
version = "1"

[node]
id = "kp-it-$name"
state_dir = "$d/state"
node_type = "daemon"

[logging]
json_path = "$d/events.jsonl"
disable_console = true

[discovery]
enabled = true
request_interval_secs = 1
request_want = 16

[network.connection_policy]
reconnect_base_delay_ms = 200
reconnect_max_delay_ms = 1500
reconnect_max_attempts = 40
reconnect_jitter_ratio = 0.2

# knownpeers behind TheNodes' own table.
[network.persistence]
enabled = true
save_interval_secs = $SAVE_INTERVAL
EOF
    if [ "$sealed" = 1 ]; then
      cat <<EOF
path = "$d/state/peers.kp"

[network.persistence.realms.$realm]
codec = "sealed"
key_file = "$DIR/realm.key"
EOF
    fi
  } >"$d/config.toml"
}

# The realm code each phase runs in (the CLI reads a file as that realm).
declare -A REALM_OF=()
peer_file() { # PHASE NAME
  local d="$DIR/$1/$2/state"
  if [ -f "$d/peers.kp" ]; then echo "$d/peers.kp"; else echo "$d/peers.json"; fi
}

key_args() { [ "$1" = 1 ] && echo "--key-file $DIR/realm.key" || true; }

# Addresses in a node's file (one per line), via `knownpeers export`; nothing if no file.
file_addrs() { # PHASE NAME SEALED
  local f
  f=$(peer_file "$1" "$2")
  [ -f "$f" ] || return 0
  # shellcheck disable=SC2046
  "$KP" export "$f" --realm "${REALM_OF[$1]}" $(key_args "$3") 2>/dev/null | grep -o '"addr": *"[^"]*"' |
    sed -e 's/^"addr": *"//' -e 's/"$//' || true
}

start_node() { # PHASE NAME
  local d="$DIR/$1/$2"
  (cd "$d" && exec "$THENODES" --config config.toml) >>"$d/out.log" 2>&1 &
  PID[$2]=$!
}

stop_node() { # NAME (SIGINT, then bounded wait; SIGKILL and a failure if it hangs)
  local name=$1 pid=${PID[$1]:-} i
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || true
  for i in $(seq 1 $((WAIT_STOP * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    fail "$name did not exit within ${WAIT_STOP}s of SIGINT"
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

# Peers a node is connected to: listen addresses of outbound handshakes and of inbound HELLOs,
# from its event log.
connected_addrs() { # PHASE NAME
  local ev="$DIR/$1/$2/events.jsonl"
  [ -f "$ev" ] || return 0
  {
    grep '"action":"app_handshake_success"' "$ev" | grep -o '"addr":"[^"]*"' |
      sed -e 's/^"addr":"//' -e 's/"$//'
    grep '"action":"hello_received"' "$ev" | grep -o 'listen=Some(\\"[^\\]*' |
      sed -e 's/^listen=Some(\\"//'
  } | sort -u || true
}

count_entries() { # PHASE SEALED NAMES...
  local phase=$1 sealed=$2 total=0 n
  shift 2
  for n in "$@"; do total=$((total + $(file_addrs "$phase" "$n" "$sealed" | wc -l))); done
  echo "$total"
}

files_ok() { # PHASE SEALED NAMES... : `knownpeers verify` every file
  local phase=$1 sealed=$2 n f
  shift 2
  for n in "$@"; do
    f=$(peer_file "$phase" "$n")
    # shellcheck disable=SC2046
    "$KP" verify "$f" --realm "${REALM_OF[$phase]}" $(key_args "$sealed") >/dev/null || { fail "verify $f"; return 1; }
  done
}

# Phase pair: cold start until everyone's file names the other three, then restart without B.
run_realm() { # LABEL PHASE REALM SEALED
  local label=$1 phase=$2 realm=$3 sealed=$4 n m t0 learned reconnected deadline want ok
  local nodes=(B N1 N2 N3)
  REALM_OF[$phase]=$realm
  for n in "${nodes[@]}"; do write_config "$phase" "$n" "$realm" "$sealed"; done

  # Cold start.
  t0=$(now_ms)
  start_node "$phase" B
  sleep 0.3
  for n in N1 N2 N3; do start_node "$phase" "$n"; done
  deadline=$(($(date +%s) + WAIT_LEARN))
  while :; do
    learned=0
    for n in "${nodes[@]}"; do
      ok=1
      for m in "${nodes[@]}"; do
        [ "$m" = "$n" ] && continue
        file_addrs "$phase" "$n" "$sealed" | grep -qx "127.0.0.1:${PORT[$m]}" || { ok=0; break; }
      done
      learned=$((learned + ok))
    done
    [ "$learned" = 4 ] || [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 0.5
  done
  local t_learn
  t_learn=$(secs_since "$t0")
  for n in "${nodes[@]}"; do stop_node "$n"; done
  files_ok "$phase" "$sealed" "${nodes[@]}" || true
  ROWS+=("$label: cold start, all learn all|$t_learn|$learned/4 know the other 3|$(count_entries "$phase" "$sealed" "${nodes[@]}")")
  [ "$learned" = 4 ] || fail "$label: only $learned of 4 nodes had the other three in their files after ${WAIT_LEARN}s"

  # Restart N1..N3 with B down (their cold-start events set aside, so only the restart's
  # connections count).
  for n in N1 N2 N3; do mv "$DIR/$phase/$n/events.jsonl" "$DIR/$phase/$n/events.cold.jsonl"; done
  t0=$(now_ms)
  for n in N1 N2 N3; do start_node "$phase" "$n"; done
  deadline=$(($(date +%s) + WAIT_RECONNECT))
  while :; do
    reconnected=0
    for n in N1 N2 N3; do
      want=$(file_addrs "$phase" "$n" "$sealed" | grep -vx "127.0.0.1:${PORT[B]}" | grep -vx "127.0.0.1:${PORT[$n]}" || true)
      if [ -n "$want" ] && connected_addrs "$phase" "$n" | grep -qxF "$want"; then
        reconnected=$((reconnected + 1))
      fi
    done
    [ "$reconnected" = 3 ] || [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 0.5
  done
  local t_re
  t_re=$(secs_since "$t0")
  for n in N1 N2 N3; do stop_node "$n"; done
  files_ok "$phase" "$sealed" N1 N2 N3 || true
  if [ "$sealed" = 1 ]; then
    for n in N1 N2 N3; do
      "$KP" inspect --json "$(peer_file "$phase" "$n")" | grep -Eq '"codec": ?"sealed"' ||
        fail "$label: $n's file is not sealed"
    done
  fi
  ROWS+=("$label: restart, bootstrap down|$t_re|$reconnected/3 reconnected from file|$(count_entries "$phase" "$sealed" N1 N2 N3)")
  [ "$reconnected" = 3 ] || fail "$label: only $reconnected of 3 nodes reconnected to a peer from their file with B down"
}

pick_ports
echo "ports: B=${PORT[B]} N1=${PORT[N1]} N2=${PORT[N2]} N3=${PORT[N3]} N5=${PORT[N5]} (127.0.0.1); files and logs under $DIR"

run_realm "plain" plain "kp-it" 0

"$KP" keygen "$DIR/realm.key" >/dev/null
run_realm "sealed" sealed "kp-sealed" 1

# SIGINT about 1 s after the first handshake (B up, N5 new).
REALM_OF[sigint]=kp-it
SAVE_INTERVAL=600
write_config sigint B "kp-it" 0
write_config sigint N5 "kp-it" 0
t0=$(now_ms)
start_node sigint B
sleep 0.3
start_node sigint N5
deadline=$(($(date +%s) + 20))
until grep -q '"action":"app_handshake_success"' "$DIR/sigint/N5/events.jsonl" 2>/dev/null; do
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 0.1
done
if grep -q '"action":"app_handshake_success"' "$DIR/sigint/N5/events.jsonl" 2>/dev/null; then
  sleep 1
  stop_node N5
  has=0
  files_ok sigint 0 N5 && file_addrs sigint N5 0 | grep -qx "127.0.0.1:${PORT[B]}" && has=1
  ROWS+=("SIGINT 1 s after first handshake|$(secs_since "$t0")|$has/1 has its peer in file|$(count_entries sigint 0 N5)")
  [ "$has" = 1 ] || fail "N5, stopped 1 s after its first handshake, has no entry for B in its file"
else
  fail "N5 made no handshake with B within 20 s"
  ROWS+=("SIGINT 1 s after first handshake|$(secs_since "$t0")|no handshake|-")
fi
stop_node N5
stop_node B

echo
printf '%-38s  %9s  %-34s  %s\n' phase time nodes "entries in files"
for r in "${ROWS[@]}"; do
  IFS='|' read -r a b c d <<<"$r"
  printf '%-38s  %9s  %-34s  %s\n' "$a" "$b" "$c" "$d"
done
echo
if [ "$FAILED" = 0 ]; then
  echo "scenario: PASS"
else
  echo "scenario: FAIL (node logs: $DIR/*/*/out.log, events: $DIR/*/*/events.jsonl)"
  exit 1
fi
