#!/usr/bin/env bash
# bench/run.sh: objstore's benchmark, on loopback, in one run. See
# bench/README.md. Usage (from anywhere in the repository):
#
#   bash bench/run.sh
#
# Environment (all optional):
#   BENCH_DURATION=4      seconds of each throughput measurement (wrk and PUTs)
#   BENCH_WARMUP=1        seconds of unmeasured load before each of them
#   BENCH_SAMPLES=500     sequential GETs in each latency measurement (≥ 200)
#   BENCH_CONNECTIONS=32  connections of wrk and concurrent PUTs
#   BENCH_THREADS=2       wrk threads
#   BENCH_ROUNDS=5        rounds; each ratio is the median of the rounds' ratios
#   BENCH_REV=            build objstore from this commit, not the working tree
#   BENCH_KEEP=1          keep the temporary directory (logs, data) at the end
#   BENCH_ONLY=hit,miss,put  measure only these groups (comma-separated)
#
# It builds objstore and the two helpers (bench/fakes3, bench/load), installs
# nginx and wrk from Debian if they are missing, starts every server as its
# own process on 127.0.0.1, measures, prints a table and stops everything
# it started. Exit status: 0 when every target is met, 1 when one is missed,
# 2 when the benchmark itself failed.
#
# Fairness: this machine has 2 cores, shared by the load generator (wrk or
# bench/load) and the server under test, and, for misses and PUTs, the S3
# server too. That is the same on both sides of every ratio: nginx and
# objstore face the same wrk on the same cores; objstore's misses and PUTs
# and the direct S3 requests they are compared with come from the same load
# generator and reach the same S3 server. So the ratios are fair, while the
# absolute numbers are lower than on a machine where the client runs apart.
set -euo pipefail

DURATION=${BENCH_DURATION:-4}
WARMUP=${BENCH_WARMUP:-1}
SAMPLES=${BENCH_SAMPLES:-500}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-5}
REV=${BENCH_REV:-}
KEEP=${BENCH_KEEP:-}
ONLY=${BENCH_ONLY:-hit,miss,put}

# Targets.
HIT_MIN=0.80        # objstore hit GET req/s ≥ HIT_MIN × nginx
S3_MIN=0.90         # S3 API (SigV4-signed) hit GET req/s ≥ S3_MIN × /api/v1
MISS_MAX=1.20       # objstore miss p50 ≤ MISS_MAX × direct S3 GET p50
THROUGH_MIN=0.70    # write-through PUT/s ≥ THROUGH_MIN × direct S3 PUT/s
BACK_MIN=3000       # write-back PUT/s ≥ BACK_MIN

BUCKET=bench
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

for v in DURATION WARMUP SAMPLES CONNS THREADS ROUNDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "every BENCH_* setting is a whole number; $v is '${!v}'"
done
((SAMPLES >= 200)) || die "BENCH_SAMPLES must be at least 200"
((DURATION >= 1)) || die "BENCH_DURATION must be at least 1 second"
((ROUNDS >= 1)) || die "BENCH_ROUNDS must be at least 1"
# want GROUP: whether BENCH_ONLY asks for GROUP (hit, miss or put).
want() { [[ ,$ONLY, == *,$1,* ]]; }
IFS=, read -ra only_groups <<<"$ONLY"
((${#only_groups[@]} > 0)) || die "BENCH_ONLY names no group; want some of hit,miss,put"
for g in "${only_groups[@]}"; do
	[[ $g == hit || $g == miss || $g == put ]] || die "BENCH_ONLY: unknown group '$g'; want some of hit,miss,put"
done

cd "$(dirname "$0")/.."
[[ -f go.mod && -d cmd/objstore ]] || die "run me from the objstore repository"

# --- tools -----------------------------------------------------------------
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WRK=$(command -v wrk || echo /usr/bin/wrk)
if [[ ! -x $NGINX || ! -x $WRK ]]; then
	((EUID == 0)) || die "nginx and wrk are missing: apt-get install -y nginx wrk (as root)"
	log "installing nginx and wrk from Debian"
	# policy-rc.d (present in containers) stops the package's own nginx
	# from starting; either way this script runs a private one below.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx wrk >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx wrk >/dev/null; } ||
		die "apt-get install nginx wrk failed"
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	WRK=$(command -v wrk || echo /usr/bin/wrk)
fi
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"

# --- processes and clean-up ------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/objstore-bench.XXXXXX")
declare -A PIDS=() # name → pid of every server this script started

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_up NAME URL: poll URL until it answers 2xx, for at most 30 s, failing
# early if NAME's process exits.
wait_up() {
	local name=$1 url=$2 deadline=$((SECONDS + 30))
	until curl -sf -o /dev/null --max-time 2 "$url"; do
		if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
			tail -n 20 "$T/$name.log" >&2 || true
			die "$name exited before it was ready"
		fi
		((SECONDS < deadline)) || die "$name not ready at $url after 30 s (log: $T/$name.log)"
		sleep 0.1
	done
}

BUSY_BEFORE=$(busy_pct)
((BUSY_BEFORE <= 15)) || log "warning: the machine is already ${BUSY_BEFORE}% busy (CPU or I/O wait) with other work; numbers will be low and noisy"

# --- build -----------------------------------------------------------------
# objstore comes from the working tree, or from commit BENCH_REV (through
# git archive, leaving the working tree alone); the helpers always from the
# working tree.
mkdir -p "$T/bin"
if [[ -n $REV ]]; then
	sha=$(git rev-parse --short "$REV^{commit}" 2>/dev/null) || die "BENCH_REV=$REV is no commit"
	log "building objstore $sha (BENCH_REV) in $T/src"
	mkdir -p "$T/src"
	git archive "$sha" | tar -x -C "$T/src" || die "git archive $sha failed"
	(cd "$T/src" && CGO_ENABLED=0 go build -o "$T/bin/objstore" ./cmd/objstore) || die "go build objstore $sha failed"
	MEASURED="objstore $sha"
else
	log "building objstore from the working tree in $T/bin"
	CGO_ENABLED=0 go build -o "$T/bin/objstore" ./cmd/objstore || die "go build ./cmd/objstore failed"
	MEASURED="objstore $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)')"
	if [[ -n $(git status --porcelain -- cmd internal go.mod go.sum 2>/dev/null) ]]; then
		MEASURED+=" + uncommitted changes"
	fi
fi
for pkg in ./bench/fakes3 ./bench/load; do
	CGO_ENABLED=0 go build -o "$T/bin/$(basename "$pkg")" "$pkg" || die "go build $pkg failed"
done
LOAD=$T/bin/load
MARK_START=$(cpu_mark)

# --- servers ---------------------------------------------------------------
free_port S3_PORT
free_port NGINX_PORT
free_port OBJ_PORT
S3_URL=http://127.0.0.1:$S3_PORT
NGINX_URL=http://127.0.0.1:$NGINX_PORT
OBJ_URL=http://127.0.0.1:$OBJ_PORT
BACKEND="s3://$BUCKET?endpoint=$S3_URL&region=us-east-1&path_style=true"

start fakes3 "$T/bin/fakes3" -addr "127.0.0.1:$S3_PORT" -bucket "$BUCKET"
wait_up fakes3 "$S3_URL/$BUCKET"

# nginx serves the same bytes as objstore, as static files, tuned as one
# would for static content: sendfile, no access log, a worker per core,
# kept-alive connections. keepalive_requests is raised from its default of
# 1000 because objstore's server never closes a busy kept-alive connection.
mkdir -p "$T/www" "$T/nginx"
chmod 755 "$T" "$T/www" # nginx's workers may run as another user
head -c 4096 /dev/urandom >"$T/www/obj-4k"
head -c 1048576 /dev/urandom >"$T/www/obj-1m"
chmod 644 "$T/www/"*
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $T/www;
        location / { }
    }
}
EOF
if want hit; then
	start nginx "$NGINX" -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf"
	wait_up nginx "$NGINX_URL/obj-4k"
fi

# start_objstore NAME MODE PORT: a fresh node with --write-mode MODE on the
# fake S3, its data in $T/objstore-NAME.
start_objstore() {
	start "objstore-$1" "$T/bin/objstore" serve --data-dir "$T/objstore-$1" --listen "127.0.0.1:$3" --cluster-listen 127.0.0.1:0 \
		--backend "$BACKEND" --write-mode "$2" --cache-size 8GiB --log-level info \
		--access-key bench --secret-key bench-secret
	wait_up "objstore-$1" "http://127.0.0.1:$3/readyz"
}
start_objstore through through "$OBJ_PORT"

# --- measurements ----------------------------------------------------------
# jnum FILE KEY: a number from a flat JSON object written by bench/load.
jnum() { sed -n "s/^ *\"$2\": *\([-0-9.eE+]*\),\{0,1\}$/\1/p" "$1"; }
jstr() { sed -n "s/^ *\"$2\": *\"\(.*\)\",\{0,1\}$/\1/p" "$1"; }

# wrk_rps URL OUT: req/s of wrk on URL after a warm-up; fails on any error.
wrk_rps() {
	local url=$1 out=$2
	if ((WARMUP > 0)); then
		"$WRK" -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null
	fi
	"$WRK" -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out"
	if grep -qE 'Non-2xx|Socket errors' "$out"; then
		cat "$out" >&2
		die "wrk saw errors on $url"
	fi
	awk '/^Requests\/sec:/ {print $2}' "$out"
}

# load_run NAME ARGS...: bench/load into $T/NAME.json; fails on any error.
load_run() {
	local name=$1
	shift
	"$LOAD" -endpoint "$S3_URL" -bucket "$BUCKET" -url "$OBJ_URL" -out "$T/$name.json" "$@" ||
		die "bench/load $name failed"
	local errs
	errs=$(jnum "$T/$name.json" errors)
	((errs == 0)) || die "bench/load $name: $errs requests failed, the first with: $(jstr "$T/$name.json" first_error)"
}

# Each measurement runs BENCH_ROUNDS times, objstore and its reference
# back to back in each round; the table shows medians (see lib.sh).
# 1. Local hits vs nginx. The objects go in through /api/v1/put and are
# checked to come back byte for byte as HITs, as nginx's copies do.
if want hit; then
	for size in 4k 1m; do
		curl -sf -o /dev/null -X POST -H "X-Meta-ID: hit-$size" -H "Content-Type: application/octet-stream" \
			--data-binary "@$T/www/obj-$size" "$OBJ_URL/api/v1/put" || die "put hit-$size failed"
		curl -sf -D "$T/hit-$size.headers" -o "$T/hit-$size.body" "$OBJ_URL/api/v1/get/hit-$size" || die "get hit-$size failed"
		grep -qi '^X-Objstore-Cache: HIT' "$T/hit-$size.headers" || die "GET hit-$size was not a local hit"
		cmp -s "$T/hit-$size.body" "$T/www/obj-$size" || die "objstore returned other bytes for hit-$size"
		curl -sf -o "$T/nginx-$size.body" "$NGINX_URL/obj-$size" || die "nginx: get obj-$size failed"
		cmp -s "$T/nginx-$size.body" "$T/www/obj-$size" || die "nginx returned other bytes for obj-$size"
	done
	# The same objects through the S3 API: wrk sends presigned GETs (the
	# benchmark's credentials, valid an hour), so every request's SigV4
	# signature is verified.
	declare -A S3GET
	for size in 4k 1m; do
		S3GET[$size]=$("$LOAD" -mode presign -url "$OBJ_URL" -bucket "$BUCKET" -prefix "hit-$size") || die "presign hit-$size failed"
		curl -sf -D "$T/s3-$size.headers" -o "$T/s3-$size.body" "${S3GET[$size]}" || die "S3 GET hit-$size failed"
		grep -qi '^X-Objstore-Cache: HIT' "$T/s3-$size.headers" || die "S3 GET hit-$size was not a local hit"
		cmp -s "$T/s3-$size.body" "$T/www/obj-$size" || die "the S3 API returned other bytes for hit-$size"
	done
	for r in $(seq "$ROUNDS"); do
		for size in 4k 1m; do
			log "round $r/$ROUNDS: GET $size hit, nginx, /api/v1 and S3 (wrk -t$THREADS -c$CONNS -d${DURATION}s)"
			# /api/v1 is measured twice, before and after S3, which is
			# compared with the mean of the two (what drifts over the
			# seconds of a round cancels out); nginx with the /api/v1 run
			# next to it. The order turns each round, so that neither
			# reference always goes first.
			order=(nginx hit s3 hit)
			((r % 2)) || order=(hit s3 hit nginx)
			hits=()
			for i in "${!order[@]}"; do
				side=${order[$i]}
				case $side in
				nginx) url=$NGINX_URL/obj-$size ;;
				hit) url=$OBJ_URL/api/v1/get/hit-$size ;;
				s3) url=${S3GET[$size]} ;;
				esac
				# (A failure inside $(...) stops the script only from an assignment.)
				rps=$(wrk_rps "$url" "$T/wrk-$side-$size-$r-$i.txt")
				if [[ $side == hit ]]; then hits+=("$rps"); else add "$side-$size" "$rps"; fi
			done
			if ((r % 2)); then add "hit-$size" "${hits[0]}"; else add "hit-$size" "${hits[1]}"; fi
			add "s3ref-$size" "$(awk -v a="${hits[0]}" -v b="${hits[1]}" 'BEGIN { print (a + b) / 2 }')"
		done
	done
	stop nginx
fi

# 2. Misses vs direct GETs from the same S3 server, sequential. Each miss
# reads a key the node has never seen. The first $SKIP requests of each run
# open the connections and warm both paths, and are not counted.
if want miss; then
	SKIP=20
	log "GET 4k miss vs direct S3 GET: seeding $((2 * ROUNDS * (SAMPLES + SKIP))) objects"
	for r in $(seq "$ROUNDS"); do
		for p in miss direct; do
			load_run "seed-$p-$r" -mode seed -prefix "$p/$r/" -count $((SAMPLES + SKIP)) -size 4096 -c 8
		done
	done
	for r in $(seq "$ROUNDS"); do
		log "round $r/$ROUNDS: GET 4k miss vs direct S3 GET, $SAMPLES each, sequential, in turns"
		# In turns, request by request (bench/load -mode miss-direct).
		load_run "miss-$r" -mode miss-direct -prefix "miss/$r/" -direct-prefix "direct/$r/" \
			-direct-out "$T/direct-get-$r.json" -count $((SAMPLES + SKIP)) -skip "$SKIP" -size 4096
		(($(jnum "$T/direct-get-$r.json" errors) == 0)) ||
			die "direct GETs of round $r failed, the first with: $(jstr "$T/direct-get-$r.json" first_error)"
		add miss "$(jnum "$T/miss-$r.json" p50_ms)"
		add direct-get "$(jnum "$T/direct-get-$r.json" p50_ms)"
	done
fi

# 3. PUTs at $CONNS concurrent connections: direct, write-through, then
# write-back on a fresh node, stopped after each round, since its uploads to
# S3 go on after its clients stop and would slow the next measurement.
if want put; then
	timed=(-size 4096 -c "$CONNS" -warmup "${WARMUP}s" -duration "${DURATION}s")
	free_port BACK_PORT
	DISK=$(disk_probe "$T")
	for r in $(seq "$ROUNDS"); do
		log "round $r/$ROUNDS: PUT 4k, direct S3, write-through, write-back ($CONNS at once, ${DURATION}s each)"
		load_run "direct-put-$r" -mode direct-put -prefix "direct-put/$r/" "${timed[@]}"
		load_run "put-through-$r" -mode put -prefix "through/$r/" "${timed[@]}"
		start_objstore "back-$r" back "$BACK_PORT"
		load_run "put-back-$r" -mode put -url "http://127.0.0.1:$BACK_PORT" -prefix "back/$r/" "${timed[@]}"
		backlog=$(curl -sf "http://127.0.0.1:$BACK_PORT/api/v1/stats" | sed -n 's/.*"upload_queue":\([0-9]*\).*/\1/p')
		echo "${backlog:-?}" >"$T/backlog-$r.txt"
		# Its files stay until the end: deleting thousands of files slows
		# the file creates of the next minutes on some filesystems.
		stop "objstore-back-$r"
		add direct-put "$(jnum "$T/direct-put-$r.json" rps)"
		add put-through "$(jnum "$T/put-through-$r.json" rps)"
		add put-back "$(jnum "$T/put-back-$r.json" rps)"
	done
fi
stop objstore-through
stop fakes3
OTHERS=$(awk -v a="$MARK_START" -v b="$(cpu_mark)" 'BEGIN { split(a, x, " "); split(b, y, " ");
	t = y[1] - x[1]; o = (y[2] - x[2]) - (y[3] - x[3]); printf "%.0f", (t > 0 && o > 0) ? 100 * o / t : 0 }')

# --- report ----------------------------------------------------------------
FAILS=0
# row LABEL OBJSTORE REFERENCE REFNAME RATIO OP TARGET [absolute]: one
# table line. OP is >= or <=; TARGET bounds RATIO, or with "absolute" the
# objstore number itself.
row() {
	local label=$1 obj=$2 ref=$3 refname=$4 ratio=$5 op=$6 target=$7 kind=${8:-ratio}
	local verdict value=$ratio tshow
	tshow="$op$(printf '%.2f' "$target")x"
	if [[ $kind == absolute ]]; then
		value=$obj
		tshow="$op$target/s"
	fi
	verdict=$(awk -v v="$value" -v t="$target" -v op="$op" \
		'BEGIN { ok = (op == ">=") ? v + 0 >= t + 0 : v + 0 <= t + 0; print ok ? "PASS" : "FAIL" }')
	[[ $verdict == PASS ]] || FAILS=$((FAILS + 1))
	printf '%-34s %-13s %-20s %-7s %-9s %s\n' "$label" "$obj" "$ref $refname" "$(printf '%.2fx' "$ratio")" "$tshow" "$verdict"
}
fmt0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
fmt3() { awk -v x="$1" 'BEGIN { printf "%.3f", x }'; }

lat() { # lat NAME: "p50/p90/p99" ms of $T/NAME.json
	echo "$(fmt3 "$(jnum "$T/$1.json" p50_ms)")/$(fmt3 "$(jnum "$T/$1.json" p90_ms)")/$(fmt3 "$(jnum "$T/$1.json" p99_ms)")"
}

echo
echo "$MEASURED: $(nproc) cores, $(go env GOVERSION), $("$NGINX" -v 2>&1 | sed 's/.*version: //'), $("$WRK" -v 2>&1 | awk 'NR == 1 {print $1, $2}')"
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up; $SAMPLES sequential misses; PUTs: $CONNS at once for ${DURATION}s after ${WARMUP}s"
if [[ $ONLY != hit,miss,put ]]; then
	echo "only: $ONLY (BENCH_ONLY)"
fi
if ((ROUNDS > 1)); then
	echo "$ROUNDS rounds: each figure is the median of its rounds, each ratio the median of the rounds' ratios"
fi
echo
printf '%-34s %-13s %-20s %-7s %-9s %s\n' benchmark objstore reference ratio target result
if want hit; then
	row "GET 4KiB hit (req/s)" "$(fmt0 "$(med hit-4k)")" "$(fmt0 "$(med nginx-4k)")" nginx "$(paired hit-4k nginx-4k)" ">=" "$HIT_MIN"
	row "GET 1MiB hit (req/s)" "$(fmt0 "$(med hit-1m)")" "$(fmt0 "$(med nginx-1m)")" nginx "$(paired hit-1m nginx-1m)" ">=" "$HIT_MIN"
	row "S3 GET 4KiB hit, SigV4 (req/s)" "$(fmt0 "$(med s3-4k)")" "$(fmt0 "$(med s3ref-4k)")" /api/v1 "$(paired s3-4k s3ref-4k)" ">=" "$S3_MIN"
	row "S3 GET 1MiB hit, SigV4 (req/s)" "$(fmt0 "$(med s3-1m)")" "$(fmt0 "$(med s3ref-1m)")" /api/v1 "$(paired s3-1m s3ref-1m)" ">=" "$S3_MIN"
fi
if want miss; then
	row "GET 4KiB miss p50 (ms)" "$(fmt3 "$(med miss)")" "$(fmt3 "$(med direct-get)")" direct "$(paired miss direct-get)" "<=" "$MISS_MAX"
fi
if want put; then
	row "PUT 4KiB write-through (req/s)" "$(fmt0 "$(med put-through)")" "$(fmt0 "$(med direct-put)")" direct "$(paired put-through direct-put)" ">=" "$THROUGH_MIN"
	row "PUT 4KiB write-back (req/s)" "$(fmt0 "$(med put-back)")" "$(fmt0 "$(med direct-put)")" direct "$(paired put-back direct-put)" ">=" "$BACK_MIN" absolute
fi
echo
for r in $(seq "$ROUNDS"); do
	echo "round $r (objstore | reference):"
	if want hit; then
		printf '  GET 4KiB hit req/s         %s | %s nginx (%s)\n' "$(fmt0 "$(word hit-4k "$r")")" "$(fmt0 "$(word nginx-4k "$r")")" "$(rr hit-4k nginx-4k "$r")"
		printf '  GET 1MiB hit req/s         %s | %s nginx (%s)\n' "$(fmt0 "$(word hit-1m "$r")")" "$(fmt0 "$(word nginx-1m "$r")")" "$(rr hit-1m nginx-1m "$r")"
		printf '  S3 GET hit req/s           4KiB %s | %s /api/v1 (%s), 1MiB %s | %s (%s)\n' \
			"$(fmt0 "$(word s3-4k "$r")")" "$(fmt0 "$(word s3ref-4k "$r")")" "$(rr s3-4k s3ref-4k "$r")" \
			"$(fmt0 "$(word s3-1m "$r")")" "$(fmt0 "$(word s3ref-1m "$r")")" "$(rr s3-1m s3ref-1m "$r")"
	fi
	if want miss; then
		printf '  GET 4KiB ms p50/p90/p99    miss %s | direct %s (p50 %s)\n' "$(lat "miss-$r")" "$(lat "direct-get-$r")" "$(rr miss direct-get "$r")"
	fi
	if want put; then
		printf '  PUT 4KiB req/s             through %s (%s), back %s | direct %s\n' \
			"$(fmt0 "$(word put-through "$r")")" "$(rr put-through direct-put "$r")" "$(fmt0 "$(word put-back "$r")")" "$(fmt0 "$(word direct-put "$r")")"
		printf '  PUT 4KiB ms p50/p90/p99    through %s, back %s | direct %s\n' \
			"$(lat "put-through-$r")" "$(lat "put-back-$r")" "$(lat "direct-put-$r")"
		echo "  write-back uploads still queued when its clients stopped: $(cat "$T/backlog-$r.txt")"
	fi
done
if want put; then
	echo "disk of the data dirs: $DISK"
fi
echo "other work on the machine: ${BUSY_BEFORE}% busy (CPU or I/O wait) before the run, ${OTHERS}% of the CPU during it"
if ((BUSY_BEFORE > 15 || OTHERS > 10)); then
	echo "WARNING: the machine was busy with other work; these numbers are unreliable"
fi
echo
if ((FAILS > 0)); then
	echo "$FAILS target(s) missed"
	exit 1
fi
echo "all targets met"
