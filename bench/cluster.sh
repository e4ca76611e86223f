#!/usr/bin/env bash
# bench/cluster.sh: objstore's cluster benchmark, on loopback, in one run.
# See bench/README.md. Usage (from anywhere in the repository):
#
#   bash bench/cluster.sh
#
# Environment (all optional):
#   BENCH_DURATION=4        seconds of each wrk measurement
#   BENCH_WARMUP=1          seconds of unmeasured wrk load before each
#   BENCH_CONNECTIONS=32    wrk connections
#   BENCH_THREADS=2         wrk threads
#   BENCH_ROUNDS=3          GET rounds; each ratio is the median of the rounds' ratios
#   BENCH_KEYS=128          objects of each size the GETs cycle through
#   BENCH_OBJECTS=100000    objects written while a node is away (catch-up)
#   BENCH_IDLE_SMALL=1000   objects in the reference cluster's journal (idle)
#   BENCH_IDLE_LARGE=1000000 objects in the large cluster's journal (idle)
#   BENCH_IDLE_SECONDS=10   seconds of idle traffic measured
#   BENCH_ONLY=             "get", "catchup" or "idle": run that part alone
#   BENCH_REV=              build objstore and bench/cluster from this commit
#   BENCH_KEEP=1            keep the temporary directory (logs, data) at the end
#
# It builds objstore and bench/cluster, installs wrk from Debian if it is
# missing, and measures:
#   1. peer-hit vs local-hit GETs: two objstore processes joined in a
#      cluster on 127.0.0.1 (--cache-on-read=false); wrk reads the same
#      objects from the node that holds them and from the one that does not;
#   2. journal catch-up and 3. idle anti-entropy traffic: bench/cluster,
#      real nodes in one process with their peer HTTP servers on 127.0.0.1
#      (see bench/cluster/main.go), bytes counted on the sockets.
# It prints a table and stops everything it started. Exit status: 0 when
# every target is met, 1 when one is missed, 2 when the benchmark itself
# failed.
set -euo pipefail

DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
KEYS=${BENCH_KEYS:-128}
OBJECTS=${BENCH_OBJECTS:-100000}
IDLE_SMALL=${BENCH_IDLE_SMALL:-1000}
IDLE_LARGE=${BENCH_IDLE_LARGE:-1000000}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
ONLY=${BENCH_ONLY:-}
REV=${BENCH_REV:-}
KEEP=${BENCH_KEEP:-}

# Targets.
PEER_MIN=0.50     # peer-hit GET req/s ≥ PEER_MIN × local-hit GET req/s
CONVERGE_MAX=30   # catch-up of BENCH_OBJECTS in at most this many seconds
CATCHUP_MAX=3.00  # bytes received ≤ CATCHUP_MAX × the events' key + metadata bytes
IDLE_MAX=1.01     # bytes per idle round with the large journal ≤ IDLE_MAX × with the small one
                  # (1%: the vector's sequence numbers are varints, a byte longer at 1M)

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

for v in DURATION WARMUP CONNS THREADS ROUNDS KEYS OBJECTS IDLE_SMALL IDLE_LARGE IDLE_SECONDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "every numeric BENCH_* setting is a whole number; $v is '${!v}'"
done
((DURATION >= 1 && ROUNDS >= 1 && KEYS >= 1 && OBJECTS >= 1 && IDLE_SMALL >= 1 && IDLE_LARGE >= 1 && IDLE_SECONDS >= 1)) ||
	die "BENCH_DURATION, BENCH_ROUNDS, BENCH_KEYS, BENCH_OBJECTS, BENCH_IDLE_* must be at least 1"
((THREADS >= 1 && KEYS >= THREADS)) || die "want BENCH_THREADS ≥ 1 and BENCH_KEYS ≥ BENCH_THREADS"
case $ONLY in "" | get | catchup | idle) ;; *) die "BENCH_ONLY is get, catchup or idle, not '$ONLY'" ;; esac
part() { [[ -z $ONLY || $ONLY == "$1" ]]; }

cd "$(dirname "$0")/.."
[[ -f go.mod && -d cmd/objstore ]] || die "run me from the objstore repository"

# --- tools -----------------------------------------------------------------
WRK=$(command -v wrk || echo /usr/bin/wrk)
if part get && [[ ! -x $WRK ]]; then
	((EUID == 0)) || die "wrk is missing: apt-get install -y wrk (as root)"
	log "installing wrk from Debian"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; } ||
		die "apt-get install wrk failed"
	WRK=$(command -v wrk || echo /usr/bin/wrk)
fi
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"

# --- processes and clean-up ------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/objstore-cluster-bench.XXXXXX")
declare -A PIDS=() # name → pid of every process this script started in the background

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until NAME WHAT CMD...: retry CMD for at most 30 s, failing early if
# NAME's process exits.
wait_until() {
	local name=$1 what=$2 deadline=$((SECONDS + 30))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
			tail -n 20 "$T/$name.log" >&2 || true
			die "$name exited before $what"
		fi
		((SECONDS < deadline)) || die "$name: no $what after 30 s (log: $T/$name.log)"
		sleep 0.1
	done
}

BUSY_BEFORE=$(busy_pct)
((BUSY_BEFORE <= 15)) || log "warning: the machine is already ${BUSY_BEFORE}% busy (CPU or I/O wait) with other work; numbers will be low and noisy"

# --- build -----------------------------------------------------------------
# objstore and bench/cluster (which builds the nodes in) come from the
# working tree, or from commit BENCH_REV through git archive, the script
# staying as it is.
mkdir -p "$T/bin"
SRC=.
if [[ -n $REV ]]; then
	sha=$(git rev-parse --short "$REV^{commit}" 2>/dev/null) || die "BENCH_REV=$REV is no commit"
	log "building objstore and bench/cluster $sha (BENCH_REV) in $T/src"
	mkdir -p "$T/src"
	git archive "$sha" | tar -x -C "$T/src" || die "git archive $sha failed"
	SRC=$T/src
	MEASURED="objstore $sha"
else
	log "building objstore and bench/cluster from the working tree in $T/bin"
	MEASURED="objstore $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)')"
	if [[ -n $(git status --porcelain -- cmd internal bench/cluster go.mod go.sum 2>/dev/null) ]]; then
		MEASURED+=" + uncommitted changes"
	fi
fi
(cd "$SRC" && CGO_ENABLED=0 go build -o "$T/bin/objstore" ./cmd/objstore) || die "go build ./cmd/objstore failed"
(cd "$SRC" && CGO_ENABLED=0 go build -o "$T/bin/cluster" ./bench/cluster) || die "go build ./bench/cluster failed"

jnum() { sed -n "s/^ *\"$2\": *\([-0-9.eE+]*\),\{0,1\}$/\1/p" "$1" | head -n 1; }
# jsub FILE OBJ KEY: a number of the nested object OBJ of FILE.
jsub() { sed -n "/\"$2\": {/,/}/p" "$1" | sed -n "s/^ *\"$3\": *\([-0-9.eE+]*\),\{0,1\}$/\1/p"; }
statnum() { curl -sf "$1/api/v1/stats" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }

declare -A OTHERS=() # part → others' share of the CPU while it ran

# --- 1. peer-hit vs local-hit GETs ----------------------------------------
# Two nodes, each with its own data dir and file backend, joined with a
# secret (so every peer request is signed and verified) and
# --cache-on-read=false. The objects are put on a at consistency level 0:
# they stay on a alone (never replicated, never uploaded), so every GET of
# them on b is a peer read from a, by the same path as any object b does
# not hold.
if part get; then
	MARK=$(cpu_mark)
	SECRET=cluster-bench-secret
	for n in a b; do
		free_port "HTTP_$n"
		free_port "GOSSIP_$n"
		free_port "PEER_$n"
	done
	# shellcheck disable=SC2154 # set by free_port
	A_URL=http://127.0.0.1:$HTTP_a B_URL=http://127.0.0.1:$HTTP_b
	node_args() { # node_args NAME: the serve flags of node NAME
		local h=HTTP_$1 g=GOSSIP_$1 p=PEER_$1
		echo serve --data-dir "$T/node-$1" --listen "127.0.0.1:${!h}" --cluster-listen "127.0.0.1:${!g}" \
			--peer-listen "127.0.0.1:${!p}" --cluster-secret "$SECRET" --cache-on-read=false \
			--cache-size 8GiB --log-level warn
	}
	# shellcheck disable=SC2046 # word splitting of node_args is wanted
	start node-a "$T/bin/objstore" $(node_args a)
	wait_until node-a "readiness" curl -sf "$A_URL/readyz"
	# shellcheck disable=SC2046,SC2154
	start node-b "$T/bin/objstore" $(node_args b) --join "127.0.0.1:$GOSSIP_a"
	wait_until node-b "readiness" curl -sf "$B_URL/readyz"
	alive2() { [[ $(curl -sf "$1/api/v1/nodes" | grep -o '"state":"alive"' | wc -l) == 2 ]]; }
	wait_until node-a "b alive in its membership" alive2 "$A_URL"
	wait_until node-b "a alive in its membership" alive2 "$B_URL"

	head -c 4096 /dev/urandom >"$T/obj-4k"
	head -c 1048576 /dev/urandom >"$T/obj-1m"
	log "putting $KEYS objects of 4 KiB and of 1 MiB on a (level 0)"
	for size in 4k 1m; do
		for i in $(seq 0 $((KEYS - 1))); do
			curl -sf -o /dev/null -X POST -H "X-Meta-ID: $size-$i" -H "X-Meta-ConsistencyLevel: 0" \
				-H "Content-Type: application/octet-stream" --data-binary "@$T/obj-$size" "$A_URL/api/v1/put" ||
				die "put $size-$i failed"
		done
	done
	# peer_get URL KEY SIZE STATUS: GET KEY from URL returns the object as
	# STATUS (X-Objstore-Cache).
	check_get() {
		curl -sf -D "$T/check.headers" -o "$T/check.body" "$1/api/v1/get/$2" &&
			grep -qi "^X-Objstore-Cache: $4" "$T/check.headers" && cmp -s "$T/check.body" "$T/obj-$3"
	}
	for size in 4k 1m; do
		wait_until node-b "peer read of $size-$((KEYS - 1))" check_get "$B_URL" "$size-$((KEYS - 1))" "$size" PEER
		for i in $(seq 0 $((KEYS - 1))); do
			check_get "$A_URL" "$size-$i" "$size" HIT || die "GET $size-$i on a is no local hit"
			check_get "$B_URL" "$size-$i" "$size" PEER || die "GET $size-$i on b is no peer read"
		done
	done
	# Each wrk thread cycles through its own share of the keys, its
	# connections taking the next key in turn, so that concurrent GETs of
	# one key (which a node coalesces into one peer read) are rare.
	for size in 4k 1m; do
		cat >"$T/keys-$size.lua" <<EOF
local threads = 0
function setup(thread)
	thread:set("first", math.floor(threads * $KEYS / $THREADS))
	thread:set("last", math.floor((threads + 1) * $KEYS / $THREADS) - 1)
	threads = threads + 1
end
function init(args)
	i = first
end
function request()
	i = (i < last) and i + 1 or first
	return wrk.format("GET", "/api/v1/get/$size-" .. i)
end
EOF
	done
	# ticks PID: clock ticks of CPU process PID has used; children PID:
	# those of the children PID has waited for.
	ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
	children() { awk '{ print $16 + $17 }' "/proc/$1/stat"; }
	# wrk_rps URL SIZE OUT: req/s of wrk on the keys of SIZE at URL. OUT.cpu
	# gets the CPU ticks node a, node b and wrk used meanwhile.
	wrk_rps() {
		local url=$1 size=$2 out=$3 me=$BASHPID a0 b0 w0 # me: this subshell, wrk's parent
		if ((WARMUP > 0)); then
			"$WRK" -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$T/keys-$size.lua" "$url" >/dev/null
		fi
		a0=$(ticks "${PIDS[node-a]}") b0=$(ticks "${PIDS[node-b]}") w0=$(children "$me")
		"$WRK" -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$T/keys-$size.lua" "$url" >"$out"
		echo "$(($(ticks "${PIDS[node-a]}") - a0)) $(($(ticks "${PIDS[node-b]}") - b0)) $(($(children "$me") - w0))" >"$out.cpu"
		if grep -qE 'Non-2xx|Socket errors' "$out"; then
			cat "$out" >&2
			die "wrk saw errors on $url"
		fi
		awk '/^Requests\/sec:/ {print $2}' "$out"
	}
	MISSES0=$(statnum "$B_URL" misses) COAL0=$(statnum "$B_URL" backend_gets_saved)
	for r in $(seq "$ROUNDS"); do
		for size in 4k 1m; do
			log "round $r/$ROUNDS: GET $size, local hit on a, peer hit on b (wrk -t$THREADS -c$CONNS -d${DURATION}s)"
			rps=$(wrk_rps "$A_URL" "$size" "$T/wrk-local-$size-$r.txt")
			add "local-$size" "$rps"
			rps=$(wrk_rps "$B_URL" "$size" "$T/wrk-peer-$size-$r.txt")
			add "peer-$size" "$rps"
		done
	done
	MISSES=$(($(statnum "$B_URL" misses) - MISSES0)) COAL=$(($(statnum "$B_URL" backend_gets_saved) - COAL0))
	for size in 4k 1m; do
		check_get "$B_URL" "$size-0" "$size" PEER || die "GET $size-0 on b is no longer a peer read"
	done
	stop node-b
	stop node-a
	OTHERS[get]=$(others_pct "$MARK")
fi

# --- 2. journal catch-up ---------------------------------------------------
if part catchup; then
	MARK=$(cpu_mark)
	log "catch-up of $OBJECTS objects (bench/cluster -mode catchup)"
	"$T/bin/cluster" -mode catchup -dir "$T/catchup" -objects "$OBJECTS" -out "$T/catchup.json" ||
		die "bench/cluster -mode catchup failed"
	rm -rf "$T/catchup"
	OTHERS[catchup]=$(others_pct "$MARK")
fi

# --- 3. idle anti-entropy traffic -------------------------------------------
if part idle; then
	MARK=$(cpu_mark)
	log "idle anti-entropy with $IDLE_SMALL and $IDLE_LARGE objects (bench/cluster -mode idle)"
	"$T/bin/cluster" -mode idle -dir "$T/idle" -small "$IDLE_SMALL" -large "$IDLE_LARGE" \
		-duration "${IDLE_SECONDS}s" -out "$T/idle.json" || die "bench/cluster -mode idle failed"
	rm -rf "$T/idle"
	OTHERS[idle]=$(others_pct "$MARK")
fi

# --- report ----------------------------------------------------------------
FAILS=0
# row LABEL VALUE REFERENCE OP TARGET [RATIO]: one table line; TARGET
# bounds RATIO (by default VALUE / REFERENCE), or VALUE itself when
# REFERENCE is "-".
row() {
	local label=$1 val=$2 ref=$3 op=$4 target=$5 ratio=${6:-} shown verdict
	if [[ $ref == - ]]; then
		ratio=$val shown="-"
	else
		[[ -n $ratio ]] || ratio=$(awk -v a="$val" -v b="${ref%% *}" 'BEGIN { print (b > 0) ? a / b : 0 }')
		ratio=$(printf '%.2f' "$ratio")
		shown="${ratio}x"
	fi
	verdict=$(awk -v v="$ratio" -v t="$target" -v op="$op" \
		'BEGIN { ok = (op == ">=") ? v + 0 >= t + 0 : v + 0 <= t + 0; print ok ? "PASS" : "FAIL" }')
	[[ $verdict == PASS ]] || FAILS=$((FAILS + 1))
	printf '%-36s %-14s %-26s %-7s %-8s %s\n' "$label" "$val" "$ref" "$shown" "$op$target" "$verdict"
}
fmt0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
fmt2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }

echo
echo "$MEASURED: $(nproc) cores, $(go env GOVERSION)"
echo
printf '%-36s %-14s %-26s %-7s %-8s %s\n' benchmark objstore reference ratio target result
if part get; then
	row "GET 4KiB peer hit (req/s)" "$(fmt0 "$(med peer-4k)")" "$(fmt0 "$(med local-4k)") local hit" ">=" "$PEER_MIN" "$(paired peer-4k local-4k)"
	row "GET 1MiB peer hit (req/s)" "$(fmt0 "$(med peer-1m)")" "$(fmt0 "$(med local-1m)") local hit" ">=" "$PEER_MIN" "$(paired peer-1m local-1m)"
fi
if part catchup; then
	row "catch-up of $OBJECTS objects (s)" "$(fmt2 "$(jnum "$T/catchup.json" converge_seconds)")" - "<=" "$CONVERGE_MAX"
	row "catch-up bytes received" "$(jnum "$T/catchup.json" received_bytes)" "$(jnum "$T/catchup.json" metadata_bytes) key+metadata" "<=" "$CATCHUP_MAX"
fi
if part idle; then
	row "idle sync bytes/round, $IDLE_LARGE objs" "$(fmt0 "$(jsub "$T/idle.json" large bytes_per_round)")" \
		"$(fmt0 "$(jsub "$T/idle.json" small bytes_per_round)") at $IDLE_SMALL objs" "<=" "$IDLE_MAX"
fi
echo
if part get; then
	echo "GETs: wrk -t$THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s, cycling through $KEYS objects of each size; --cache-on-read=false"
	((ROUNDS == 1)) || echo "  $ROUNDS rounds: each figure is the median of its rounds, each ratio the median of the rounds' ratios"
	for r in $(seq "$ROUNDS"); do
		printf '  round %s req/s (peer | local)   4KiB %s | %s (%s)   1MiB %s | %s (%s)\n' "$r" \
			"$(fmt0 "$(word peer-4k "$r")")" "$(fmt0 "$(word local-4k "$r")")" "$(rr peer-4k local-4k "$r")" \
			"$(fmt0 "$(word peer-1m "$r")")" "$(fmt0 "$(word local-1m "$r")")" "$(rr peer-1m local-1m "$r")"
	done
	for size in 4k 1m; do
		lat() { awk '/^ +(50|99)%/ { printf "%s%s", sep, $2; sep = "/" }' "$1"; }
		printf '  %s p50/p99 latency of the last round: peer %s, local %s\n' "$size" \
			"$(lat "$T/wrk-peer-$size-$ROUNDS.txt")" "$(lat "$T/wrk-local-$size-$ROUNDS.txt")"
	done
	# cpu OUT: CPU µs per request of a, b and wrk in the run of OUT.
	cpu() {
		awk -v hz="$(getconf CLK_TCK)" -v r="$(awk '/requests in/ { print $1 }' "$1")" \
			'{ f = 1e6 / hz / r; printf "a %.0f + b %.0f + wrk %.0f = %.0f", $1 * f, $2 * f, $3 * f, ($1 + $2 + $3) * f }' "$1.cpu"
	}
	for size in 4k 1m; do
		printf '  %s CPU µs per request of the last round: peer %s, local %s\n' "$size" \
			"$(cpu "$T/wrk-peer-$size-$ROUNDS.txt")" "$(cpu "$T/wrk-local-$size-$ROUNDS.txt")"
	done
	echo "  b served $MISSES GETs it holds no copy of, with $((MISSES - COAL)) peer reads ($COAL shared a read in flight)"
fi
if part catchup; then
	f="$T/catchup.json"
	echo "catch-up: c stopped while $OBJECTS level-0 objects were put on a ($(fmt0 "$(jnum "$f" write_per_second)")/s, b receiving pushes);"
	echo "  from c's start to its vector covering a's and b's: $(fmt2 "$(jnum "$f" converge_seconds)") s, $(jnum "$f" sync_rounds) sync round(s), $(jnum "$f" events_applied) events applied"
	echo "  received $(jnum "$f" received_bytes) bytes on the wire (HTTP headers included), sent $(jnum "$f" sent_bytes);"
	echo "  key + metadata of those objects (key, ETag, content type, name, user metadata, headers, 8 B size, 8 B mtime): $(jnum "$f" metadata_bytes) bytes"
fi
if part idle; then
	f="$T/idle.json"
	for s in small large; do
		printf '  idle, %s objects (injected in %ss): %s rounds in %ss, %s request + %s response bytes per round\n' \
			"$(jsub "$f" "$s" objects)" "$(fmt2 "$(jsub "$f" "$s" inject_seconds)")" "$(jsub "$f" "$s" rounds)" \
			"$(fmt2 "$(jnum "$f" seconds)")" "$(fmt0 "$(jsub "$f" "$s" request_bytes_per_round)")" "$(fmt0 "$(jsub "$f" "$s" response_bytes_per_round)")"
	done
fi
busy=0
msg="other work on the machine: ${BUSY_BEFORE}% busy (CPU or I/O wait) before the run; others' share of the CPU during"
for p in get catchup idle; do
	if [[ -n ${OTHERS[$p]:-} ]]; then
		msg+=" $p ${OTHERS[$p]}%"
		((OTHERS[$p] <= 10)) || busy=1
	fi
done
echo "$msg"
if ((BUSY_BEFORE > 15 || busy)); then
	echo "WARNING: the machine was busy with other work; these numbers are unreliable"
fi
echo
if ((FAILS > 0)); then
	echo "$FAILS target(s) missed"
	exit 1
fi
echo "all targets met"
