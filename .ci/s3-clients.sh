#!/usr/bin/env bash
# .ci/s3-clients.sh: real S3 clients (awscli, s3cmd, rclone) end to end
# against an objstore node whose backend is a real S3 server (SeaweedFS
# `weed mini`, built by .ci/weed.sh), once with --write-mode through and once
# with --write-mode back. Usage (from anywhere in the repository):
#
#   bash .ci/s3-clients.sh
#
# Environment (optional):
#   S3_CLIENTS_KEEP=1   keep the temporary directory (logs, data) at the end
#
# Every check runs even when an earlier one failed, so that one run shows
# them all; a failure prints the command's output and what objstore logged
# meanwhile (it runs with --log-level debug). Exit status: 0 when every check
# passed, 1 when one failed, 2 when the harness itself failed.
#
# weed mini listens on fixed loopback ports (8333 for S3, 9333, 8888, ...):
# one run at a time per machine.
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=${S3_CLIENTS_KEEP:-}
BUCKET=objstore-ci
WEED_S3=http://127.0.0.1:8333
# Two key pairs, so that a client that reached weed directly with the
# client's keys (or objstore with the backend's) would be refused.
BACKEND_KEY=ci-backend BACKEND_SECRET=ci-backend-secret
CLIENT_KEY=ci-client CLIENT_SECRET=ci-client-secret
AWS=/usr/bin/aws S3CMD=/usr/bin/s3cmd RCLONE=/usr/bin/rclone

die() {
	echo "s3-clients: $*" >&2
	exit 2
}
log() { echo "s3-clients: $*" >&2; }

# --- tools -----------------------------------------------------------------
if [[ ! -x $AWS || ! -x $S3CMD || ! -x $RCLONE ]]; then
	((EUID == 0)) || die "awscli, s3cmd or rclone is missing: apt-get install -y awscli s3cmd rclone (as root)"
	log "installing awscli, s3cmd and rclone from Debian"
	apt-get update -q >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli s3cmd rclone >/dev/null ||
		die "apt-get install awscli s3cmd rclone failed"
fi
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"

WEED=$(bash .ci/weed.sh) || die ".ci/weed.sh failed"
[[ -x $WEED ]] || die ".ci/weed.sh printed '$WEED', which is no executable"
log "weed: $WEED"

# --- processes and clean-up ------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/objstore-s3-clients.XXXXXX")
declare -A PIDS=() # name → pid of every server this script started

stop() { # stop NAME: TERM the process, KILL it after 15 s, and reap it
	local pid=${PIDS[$1]:-} i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$1]"
}
cleanup() {
	local name
	for name in "${!PIDS[@]}"; do stop "$name"; done
	if [[ -n $KEEP ]]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: run CMD in the background, logging to $T/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}

# wait_http NAME URL SECONDS: poll URL until an HTTP server answers it (any
# status), failing early if NAME's process exits.
wait_http() {
	local name=$1 url=$2 deadline=$((SECONDS + $3))
	until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url") != 000 ]]; do
		if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
			tail -n 30 "$T/$name.log" >&2 || true
			die "$name exited before it answered $url"
		fi
		((SECONDS < deadline)) || {
			tail -n 30 "$T/$name.log" >&2 || true
			die "$name did not answer $url within $3 s"
		}
		sleep 0.2
	done
}

# free_port: a loopback TCP port nobody listens on, below the kernel's
# ephemeral range: a port in it may be the local end of any connection
# (of the tests before, in TIME_WAIT), which a listener then cannot bind.
free_port() {
	local p i lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || lo=32768
	((lo > 12000)) || lo=32768
	for i in $(seq 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "found no free port"
}

# --- clients ---------------------------------------------------------------
# A private AWS config: path-style addressing, and nothing from ~/.aws.
cat >"$T/aws-config" <<EOF
[default]
region = us-east-1
s3 =
    addressing_style = path
EOF
: >"$T/aws-credentials"
: >"$T/rclone.conf"
export AWS_CONFIG_FILE=$T/aws-config AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

OBJ_URL= # the node under test, set by start_objstore
PORT=

aws() { # the aws CLI on the node under test, with the client's keys
	AWS_ACCESS_KEY_ID=$CLIENT_KEY AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET "$AWS" --endpoint-url "$OBJ_URL" "$@"
}
weed_aws() { # the aws CLI on weed itself, with the backend's keys
	AWS_ACCESS_KEY_ID=$BACKEND_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET "$AWS" --endpoint-url "$WEED_S3" "$@"
}
s3cmd() { "$S3CMD" -c "$T/s3cmd-$PORT.cfg" "$@"; }
rclone() {
	# rclone fails to start when AWS_CA_BUNDLE names a bundle it cannot load.
	env -u AWS_CA_BUNDLE \
		RCLONE_CONFIG_OBJ_TYPE=s3 RCLONE_CONFIG_OBJ_PROVIDER=Other \
		RCLONE_CONFIG_OBJ_ENDPOINT="$OBJ_URL" RCLONE_CONFIG_OBJ_REGION=us-east-1 \
		RCLONE_CONFIG_OBJ_ACCESS_KEY_ID=$CLIENT_KEY RCLONE_CONFIG_OBJ_SECRET_ACCESS_KEY=$CLIENT_SECRET \
		RCLONE_CONFIG_OBJ_FORCE_PATH_STYLE=true \
		"$RCLONE" --config "$T/rclone.conf" "$@"
}

# --- checks ----------------------------------------------------------------
FAILED=() PASSED=0
LOG= # objstore's log of the node under test

# check NAME FUNC ARGS...: run FUNC under errexit, its output captured. On
# failure, print that output and the lines objstore logged meanwhile.
check() {
	local name=$1 out=$T/check.out from rc
	shift
	from=$(($(wc -l <"$LOG") + 1))
	set +e
	(
		set -e
		"$@"
	) >"$out" 2>&1
	rc=$?
	set -e
	if ((rc == 0)); then
		PASSED=$((PASSED + 1))
		echo "ok   $name"
		return
	fi
	FAILED+=("$name")
	echo "FAIL $name (exit $rc)"
	echo "  --- output (last 40 lines):"
	tail -n 40 "$out" | sed 's/^/  | /'
	echo "  --- objstore log meanwhile (last 40 lines of $(basename "$LOG")):"
	tail -n +"$from" "$LOG" | tail -n 40 | sed 's/^/  | /'
}

# run CMD...: echo CMD on stderr, then run it; so that a failure's output
# names it, and $(run CMD) holds only CMD's output.
run() {
	echo "+ $*" >&2
	"$@"
}

# same WANT GOT: the two files hold the same bytes.
same() {
	local a b
	a=$(sha256sum <"$1" | cut -d' ' -f1)
	b=$(sha256sum <"$2" | cut -d' ' -f1)
	[[ $a == "$b" ]] || {
		echo "sha256 differs: $1 $a, $2 $b ($(stat -c %s "$1") vs $(stat -c %s "$2") bytes)"
		return 1
	}
}

# same_tree WANT GOT: the two directories hold the same files, byte for byte.
same_tree() {
	local a b
	a=$(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
	b=$(cd "$2" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
	[[ $a == "$b" ]] || {
		echo "trees differ: $1 vs $2"
		diff <(echo "$a") <(echo "$b") || true
		return 1
	}
}

# lists NAME LISTING: LISTING has NAME as a word.
lists() {
	grep -qwF -- "$1" <<<"$2" || {
		echo "listing lacks $1:"
		echo "$2"
		return 1
	}
}

# until_ok SECONDS CMD...: retry CMD (silently) until it succeeds.
until_ok() {
	local secs=$1 deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || {
			echo "still failing after $secs s: $*"
			"$@"
			return 1
		}
		sleep 0.2
	done
}

# --- test data -------------------------------------------------------------
D=$T/data
mkdir -p "$D/tree/sub/deeper" "$D/many"
head -c 1024 /dev/urandom >"$D/small.bin"
head -c $((1 << 20)) /dev/urandom >"$D/mid.bin"
head -c $((40 << 20)) /dev/urandom >"$D/big.bin"
head -c 3000 /dev/urandom >"$D/tree/a.bin"
echo "hello, objstore" >"$D/tree/sub/b.txt"
head -c 70000 /dev/urandom >"$D/tree/sub/deeper/c.bin"
head -c 10 /dev/urandom >"$D/tree/sub/name with spaces.bin"
for i in $(seq -w 50); do
	head -c $((RANDOM % 4096 + 1)) /dev/urandom >"$D/many/f$i.bin"
done

# --- the steps of one round ------------------------------------------------
# Each runs with P = this round's key prefix and G = its scratch directory.

# Each check puts what it reads, so that one failure does not fail the rest.

aws_cp() {
	run aws s3 cp "$D/small.bin" "s3://$BUCKET/$P/small.bin"
	run aws s3 cp "$D/big.bin" "s3://$BUCKET/$P/big.bin"
	run aws s3 cp "s3://$BUCKET/$P/small.bin" "$G/small.bin"
	run aws s3 cp "s3://$BUCKET/$P/big.bin" "$G/big.bin"
	same "$D/small.bin" "$G/small.bin"
	same "$D/big.bin" "$G/big.bin"
}

aws_ls() {
	local out
	run aws s3 cp "$D/small.bin" "s3://$BUCKET/$P/ls/one.bin"
	run aws s3 cp "$D/mid.bin" "s3://$BUCKET/$P/ls/two.bin"
	out=$(run aws s3 ls "s3://$BUCKET/$P/ls/")
	echo "$out"
	# "2026-01-01 00:00:00       1024 one.bin"
	grep -Eq "[[:space:]]1024[[:space:]]+one\.bin$" <<<"$out" || {
		echo "one.bin is not listed with 1024 bytes"
		return 1
	}
	grep -Eq "[[:space:]]$((1 << 20))[[:space:]]+two\.bin$" <<<"$out" || {
		echo "two.bin is not listed with $((1 << 20)) bytes"
		return 1
	}
}

aws_rm() {
	local out
	run aws s3 cp "$D/small.bin" "s3://$BUCKET/$P/rm/x.bin"
	out=$(run aws s3 ls "s3://$BUCKET/$P/rm/")
	lists x.bin "$out"
	run aws s3 rm "s3://$BUCKET/$P/rm/x.bin"
	out=$(run aws s3 ls "s3://$BUCKET/$P/rm/") || true # no match: exit 1
	if grep -qw x.bin <<<"$out"; then
		echo "x.bin still listed after rm:"
		echo "$out"
		return 1
	fi
	if run aws s3api head-object --bucket "$BUCKET" --key "$P/rm/x.bin"; then
		echo "head-object of a removed object succeeded"
		return 1
	fi
}

aws_metadata() {
	local got
	run aws s3 cp --metadata owner=ann,team=ci-meta "$D/small.bin" "s3://$BUCKET/$P/meta.bin"
	run aws s3api head-object --bucket "$BUCKET" --key "$P/meta.bin"
	got=$(aws s3api head-object --bucket "$BUCKET" --key "$P/meta.bin" \
		--query '[Metadata.owner, Metadata.team, ContentLength]' --output text)
	[[ $got == $'ann\tci-meta\t1024' ]] || {
		echo "want metadata owner=ann team=ci-meta and length 1024, got: $got"
		return 1
	}
}

# aws_range also puts mid.bin, which the backend checks read from weed.
aws_range() {
	run aws s3api put-object --bucket "$BUCKET" --key "$P/mid.bin" --body "$D/mid.bin"
	run aws s3api get-object --bucket "$BUCKET" --key "$P/mid.bin" --range bytes=100-199 "$G/range.bin"
	head -c 200 "$D/mid.bin" | tail -c 100 >"$G/range.want"
	same "$G/range.want" "$G/range.bin"
}

aws_sync() {
	run aws s3 sync "$D/tree" "s3://$BUCKET/$P/tree"
	run aws s3 sync "s3://$BUCKET/$P/tree" "$G/tree"
	same_tree "$D/tree" "$G/tree"
	# A second sync finds every file listed with its size and a later
	# time, and copies nothing.
	local out
	out=$(run aws s3 sync "$D/tree" "s3://$BUCKET/$P/tree")
	if grep -q 'upload:' <<<"$out"; then
		echo "a repeated sync uploaded again:"
		echo "$out"
		return 1
	fi
}

s3cmd_flow() {
	local out
	cat >"$T/s3cmd-$PORT.cfg" <<EOF
[default]
access_key = $CLIENT_KEY
secret_key = $CLIENT_SECRET
host_base = 127.0.0.1:$PORT
host_bucket = 127.0.0.1:$PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
EOF
	run s3cmd put "$D/tree/sub/deeper/c.bin" "s3://$BUCKET/$P/s3cmd/c.bin"
	run s3cmd get "s3://$BUCKET/$P/s3cmd/c.bin" "$G/s3cmd-c.bin"
	same "$D/tree/sub/deeper/c.bin" "$G/s3cmd-c.bin"
	out=$(run s3cmd ls "s3://$BUCKET/$P/s3cmd/")
	echo "$out"
	lists "s3://$BUCKET/$P/s3cmd/c.bin" "$out"
	run s3cmd del "s3://$BUCKET/$P/s3cmd/c.bin"
	out=$(run s3cmd ls "s3://$BUCKET/$P/s3cmd/")
	echo "$out"
	if grep -q c.bin <<<"$out"; then
		echo "c.bin still listed after s3cmd del"
		return 1
	fi
}

rclone_flow() {
	run rclone copy "$D/many" "obj:$BUCKET/$P/rclone"
	run rclone copy "obj:$BUCKET/$P/rclone" "$G/many"
	same_tree "$D/many" "$G/many"
	run rclone check "$D/many" "obj:$BUCKET/$P/rclone"
}

# in_backend KEY WANT SECONDS: KEY is in weed (within SECONDS) and holds
# WANT's bytes.
in_backend() {
	until_ok "$3" weed_aws s3api head-object --bucket "$BUCKET" --key "$1"
	run weed_aws s3api get-object --bucket "$BUCKET" --key "$1" "$G/from-weed.bin"
	same "$2" "$G/from-weed.bin"
}

# backend_metadata SECONDS: meta.bin's user metadata is in weed. Keys are
# compared without case: that is the backend's business, not objstore's.
backend_metadata() {
	local got
	until_ok "$1" weed_aws s3api head-object --bucket "$BUCKET" --key "$P/meta.bin"
	got=$(run weed_aws s3api head-object --bucket "$BUCKET" --key "$P/meta.bin" | tr '[:upper:]' '[:lower:]')
	echo "$got"
	if ! grep -q '"owner": "ann"' <<<"$got" || ! grep -q '"team": "ci-meta"' <<<"$got"; then
		echo "want owner=ann team=ci-meta in weed's metadata"
		return 1
	fi
}

# read_through: an object written straight to weed is read through objstore.
read_through() {
	run weed_aws s3 cp "$D/tree/a.bin" "s3://$BUCKET/$P/direct/a.bin"
	run aws s3 cp "s3://$BUCKET/$P/direct/a.bin" "$G/direct-a.bin"
	same "$D/tree/a.bin" "$G/direct-a.bin"
}

# round MODE: a fresh node with --write-mode MODE, every check under the
# key prefix MODE/.
round() {
	local mode=$1 wait=0
	[[ $mode == back ]] && wait=60
	P=$mode G=$T/got-$mode
	mkdir -p "$G"
	PORT=$(free_port)
	OBJ_URL=http://127.0.0.1:$PORT
	LOG=$T/objstore-$mode.log
	echo "== write mode $mode: objstore on $OBJ_URL, backend weed $WEED_S3/$BUCKET"
	start "objstore-$mode" env AWS_ACCESS_KEY_ID=$BACKEND_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET \
		"$T/objstore" serve --listen "127.0.0.1:$PORT" --cluster-listen 127.0.0.1:0 --data-dir "$T/node-$mode" \
		--backend "s3://$BUCKET?endpoint=$WEED_S3&region=us-east-1&path_style=true" \
		--access-key "$CLIENT_KEY" --secret-key "$CLIENT_SECRET" \
		--write-mode "$mode" --log-level debug
	wait_http "objstore-$mode" "$OBJ_URL/readyz" 30

	check "$mode: aws s3 cp 1 KiB and 40 MiB up and down" aws_cp
	check "$mode: aws s3 ls" aws_ls
	check "$mode: aws s3api head-object shows --metadata" aws_metadata
	check "$mode: aws s3api get-object --range bytes=100-199" aws_range
	check "$mode: aws s3 rm" aws_rm
	check "$mode: aws s3 sync up and down" aws_sync
	check "$mode: s3cmd put/get/ls/del" s3cmd_flow
	check "$mode: rclone copy 50 files up and down, rclone check" rclone_flow
	check "$mode: object from put-object is in weed" in_backend "$P/mid.bin" "$D/mid.bin" "$wait"
	check "$mode: 40 MiB object from aws s3 cp (multipart) is in weed" in_backend "$P/big.bin" "$D/big.bin" "$wait"
	check "$mode: user metadata is in weed" backend_metadata "$wait"
	check "$mode: object written to weed is read through objstore" read_through

	stop "objstore-$mode"
}

# --- servers ---------------------------------------------------------------
log "building objstore"
CGO_ENABLED=0 go build -o "$T/objstore" ./cmd/objstore || die "go build ./cmd/objstore failed"

for p in 8333 9333 8888; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		die "port $p is taken (another weed?); weed mini needs it"
	fi
done
mkdir -p "$T/weed"
start weed env AWS_ACCESS_KEY_ID=$BACKEND_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET GOMEMLIMIT=256MiB \
	"$WEED" mini -dir="$T/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
	-webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0
wait_http weed "$WEED_S3" 60
# weed answers S3 a little before it can create buckets.
until_ok 30 weed_aws s3api create-bucket --bucket "$BUCKET" >/dev/null ||
	{ tail -n 30 "$T/weed.log" >&2; die "could not create bucket $BUCKET in weed"; }

start_time=$SECONDS
round through
round back

echo "== $PASSED checks passed, ${#FAILED[@]} failed ($((SECONDS - start_time)) s)"
if ((${#FAILED[@]} > 0)); then
	printf '   failed: %s\n' "${FAILED[@]}"
	exit 1
fi
