#!/usr/bin/env bash
# .ci/docker-cluster.sh: a three-node objstore cluster in Docker containers
# (the image of deploy/build.sh, FROM scratch: nothing is pulled), and what
# happens to it when a node is cut off, killed or frozen. Usage (from
# anywhere in the repository):
#
#   bash .ci/docker-cluster.sh
#
# Environment (optional):
#   DOCKER_CLUSTER_KEEP=1        leave the containers, networks, volume and
#                                image (and the temporary directory) behind
#   DOCKER_CLUSTER_LOG_LEVEL=L   the nodes' --log-level (default info)
#   DOCKER_CLUSTER_LONG=1        also cut a node off for longer than
#                                memberlist remembers a dead member (30 s)
#                                and check that the cluster heals (about
#                                +1 min; .ci/run sets it)
#
# Without a working Docker engine the script fails under CI (CI=true) and
# skips with a message elsewhere.
#
# First, deploy/docker-compose.yml is brought up as README says (on free
# loopback ports, under a project name of this run) and its three nodes
# are checked to form a cluster and share writes; then it is taken down.
#
# Layout of the rest: the nodes a, b and c share a backend, a file:// directory on one
# volume. Each is on two networks of its own run: "cluster", --internal,
# where they gossip and talk node to node (fixed IPs, so that a node cut off
# comes back at the same address; aliases a, b, c, and objstore for all
# three, which is what each joins), and "front", with inter-container
# traffic disabled, which only publishes each public port on a random
# 127.0.0.1 port for this script's curl. Disconnecting a node from
# "cluster" partitions it from the others while the script can still reach
# it.
#
# Every check runs even when an earlier one failed, so that one run shows
# them all; a failure prints the check's output and what the nodes logged
# meanwhile. Every wait has a deadline. Exit status: 0 when every check
# passed, 1 when one failed, 2 when the harness itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

KEEP=${DOCKER_CLUSTER_KEEP:-}
LOG_LEVEL=${DOCKER_CLUSTER_LOG_LEVEL:-info}
NODES=(a b c)
# Deadlines, in seconds. memberlist (its LAN defaults) declares a silent
# member dead after a probe failure and a suspicion of at least 4 s.
JOIN_WAIT=30 # the nodes find each other
SYNC_WAIT=30 # a write reaches the other nodes
DEAD_WAIT=30 # a silent node is declared dead
HEAL_WAIT=60 # a node back on the network is alive everywhere and caught up

die() {
	echo "docker-cluster: $*" >&2
	exit 2
}
log() { echo "docker-cluster: $*" >&2; }

in_ci() { [[ -n ${CI:-} && ${CI:-} != false && ${CI:-} != 0 ]]; }

# --- tools -----------------------------------------------------------------
docker_err=
if ! command -v docker >/dev/null; then
	docker_err="docker is not installed"
elif ! docker_err=$(docker info 2>&1 >/dev/null); then
	docker_err="the Docker engine does not answer: $docker_err"
else
	docker_err=
fi
if [[ -n $docker_err ]]; then
	in_ci && die "FAILED: $docker_err (CI needs a Docker engine for this suite)"
	echo "docker-cluster: SKIPPED: $docker_err"
	exit 0
fi
if docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
	COMPOSE=(docker-compose)
else
	COMPOSE=()
	in_ci && die "FAILED: neither docker compose nor docker-compose is installed (CI needs one for deploy/docker-compose.yml)"
	log "no docker compose nor docker-compose: the Compose checks are skipped"
fi
command -v curl >/dev/null || die "curl is missing: apt-get install -y curl"
command -v go >/dev/null || die "go is missing"

# --- resources and clean-up ------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/objstore-docker-cluster.XXXXXX")
RUN=objstore-ci-$(basename "$T" | cut -d. -f2 | tr '[:upper:]' '[:lower:]')
IMAGE=objstore-ci:${RUN#objstore-ci-}
NET=$RUN-cluster FRONT=$RUN-front VOLUME=$RUN-backend
SUBNET= # 10.X.Y of NET, chosen when it is created
PROJECT=$RUN-compose # the Compose project, once up
declare -A IP=() HP=() ID=() # node → its IP on NET, 127.0.0.1:port of its public API, node ID
LOGGED=() # containers whose logs a failed check prints
STREAM_PID=
COMPOSE_UP=

cname() { echo "$RUN-$1"; }

compose() { OBJSTORE_IMAGE=$IMAGE "${COMPOSE[@]}" -p "$PROJECT" -f deploy/docker-compose.yml "$@"; }

cleanup() {
	local n
	if [[ -n $STREAM_PID ]]; then
		kill "$STREAM_PID" 2>/dev/null || true
		wait "$STREAM_PID" 2>/dev/null || true
	fi
	if [[ -n $KEEP ]]; then
		log "kept containers $RUN-{a,b,c}, networks $NET $FRONT, volume $VOLUME, image $IMAGE, dir $T${COMPOSE_UP:+, Compose project $PROJECT}"
		return
	fi
	if [[ -n $COMPOSE_UP ]]; then
		compose down -v --remove-orphans >/dev/null 2>&1 || true
	fi
	for n in "${NODES[@]}"; do
		docker unpause "$(cname "$n")" >/dev/null 2>&1 || true
		docker rm -f -v "$(cname "$n")" >/dev/null 2>&1 || true
	done
	docker network rm "$NET" "$FRONT" >/dev/null 2>&1 || true
	docker volume rm "$VOLUME" >/dev/null 2>&1 || true
	docker rmi "$IMAGE" >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- HTTP ------------------------------------------------------------------
url() { echo "http://${HP[$1]}"; }

# hostport NODE: read NODE's published public port (it changes when the
# container restarts).
hostport() {
	local p
	p=$(docker port "$(cname "$1")" 10999/tcp | head -n 1) || die "docker port $(cname "$1") failed"
	[[ -n $p ]] || die "$(cname "$1") publishes no port"
	HP[$1]=$p
}

# put NODE KEY BODY: store KEY on NODE; succeeds on 200.
put() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X POST \
		-H "X-Meta-ID: $2" --data-binary "$3" "$(url "$1")/api/v1/put")
	[[ $code == 200 ]] || {
		echo "PUT $2 on $1: status $code"
		return 1
	}
}

del() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X POST "$(url "$1")/api/v1/delete/$2")
	[[ $code == 200 ]] || {
		echo "DELETE $2 on $1: status $code"
		return 1
	}
}

# fetch NODE KEY: GET KEY from NODE; sets CODE, BODY and HDRS (the response
# headers, lower case).
fetch() {
	local out
	out=$(curl -s -D "$T/fetch.hdr" -w '\n%{http_code}' --max-time 15 "$(url "$1")/api/v1/get/$2") || true
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
	HDRS=$(tr -d '\r' <"$T/fetch.hdr" 2>/dev/null | tr '[:upper:]' '[:lower:]')
}

# reads NODE KEY BODY: NODE answers KEY with 200 and BODY.
reads() {
	fetch "$1" "$2"
	[[ $CODE == 200 && $BODY == "$3" ]]
}

# s3_reads NODE BUCKET/KEY BODY: NODE answers an anonymous S3 GetObject
# with BODY.
s3_reads() {
	[[ $(curl -s --fail --max-time 15 "$(url "$1")/$2") == "$3" ]]
}

# deleted NODE KEY: NODE answers KEY with 404 and X-Meta-Deleted: true.
deleted() {
	fetch "$1" "$2"
	[[ $CODE == 404 ]] && grep -q '^x-meta-deleted: true$' <<<"$HDRS"
}

# state OBSERVER NODE: NODE's state in OBSERVER's /api/v1/nodes (alive,
# suspect, dead, left), "absent" when not listed, "unreachable" when
# OBSERVER does not answer.
state() {
	local js s
	js=$(curl -s --max-time 5 "$(url "$1")/api/v1/nodes") || {
		echo unreachable
		return
	}
	s=$(grep -o "{\"id\":\"${ID[$2]}\",\"state\":\"[a-z]*\"" <<<"$js" | cut -d'"' -f8) || true
	echo "${s:-absent}"
}

# sees OBSERVER STATE NODE...: OBSERVER reports every NODE in STATE; STATE
# "gone" means dead, left or absent.
sees() {
	local obs=$1 want=$2 n s
	shift 2
	for n in "$@"; do
		s=$(state "$obs" "$n")
		case $want in
		gone) [[ $s == dead || $s == left || $s == absent ]] || return 1 ;;
		*) [[ $s == "$want" ]] || return 1 ;;
		esac
	done
}

# gone_on NODE OBSERVER...: every OBSERVER sees NODE dead, left or absent.
gone_on() {
	local node=$1 n
	shift
	for n in "$@"; do sees "$n" gone "$node" || return 1; done
}

# all_alive NODE...: every NODE sees every NODE alive.
all_alive() {
	local n
	for n in "$@"; do sees "$n" alive "$@" || return 1; done
}

# views "MEMBER..." NODE...: each NODE's view of the MEMBERs, for messages.
views() {
	local members=$1 n m line
	shift
	for n in "$@"; do
		line="$n sees:"
		for m in $members; do line+=" $m=$(state "$n" "$m")"; done
		echo "  $line"
	done
}

# --- checks ----------------------------------------------------------------
FAILED=() PASSED=0

# note TEXT: a measurement the current check reports with its result.
note() { echo "$*" >>"$T/note"; }

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# within SECONDS WHAT CMD...: retry CMD until it succeeds; on success note
# how long it took, on timeout say what did not happen.
within() {
	local secs=$1 what=$2 t0 deadline
	shift 2
	t0=$(now)
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "not within $secs s: $what"
			return 1
		fi
		sleep 0.25
	done
	note "$what: $(since "$t0") s"
}

# waitfor SECONDS WHAT CMD...: within, without the note.
waitfor() {
	local secs=$1 what=$2 deadline=$((SECONDS + $1))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "not within $secs s: $what"
			return 1
		fi
		sleep 0.25
	done
}

# check NAME FUNC ARGS...: run FUNC under errexit, its output captured. On
# failure, print that output and what each node logged meanwhile.
check() {
	local name=$1 out=$T/check.out from rc n notes
	shift
	from=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	: >"$T/note"
	set +e
	(
		set -e
		"$@"
	) >"$out" 2>&1
	rc=$?
	set -e
	notes=$(paste -sd';' "$T/note" | sed 's/;/; /g')
	if ((rc == 0)); then
		PASSED=$((PASSED + 1))
		echo "ok   $name${notes:+ ($notes)}"
		return
	fi
	FAILED+=("$name")
	echo "FAIL $name (exit $rc)${notes:+ ($notes)}"
	echo "  --- output (last 40 lines):"
	tail -n 40 "$out" | sed 's/^/  | /'
	for n in "${LOGGED[@]}"; do
		echo "  --- $n logged meanwhile (last 30 lines):"
		docker logs --since "$from" "$n" >"$T/logs.out" 2>&1 || true
		if [[ -s $T/logs.out ]]; then
			tail -n 30 "$T/logs.out" | sed 's/^/  | /'
		else
			echo "  | (nothing at --log-level $LOG_LEVEL; DOCKER_CLUSTER_LOG_LEVEL=debug adds memberlist's and every request's)"
		fi
	done
}

# --- the cluster -----------------------------------------------------------
log "building the image $IMAGE (deploy/build.sh)"
bash deploy/build.sh "$IMAGE" >/dev/null || die "deploy/build.sh failed"

# A subnet nobody uses: Docker refuses one that overlaps another network.
for i in $(seq 20); do
	SUBNET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
	if docker network create --internal --subnet "$SUBNET.0/24" "$NET" >"$T/net.err" 2>&1; then
		break
	fi
	SUBNET=
done
[[ -n $SUBNET ]] || die "docker network create $NET failed: $(cat "$T/net.err")"
docker network create -o com.docker.network.bridge.enable_icc=false "$FRONT" >/dev/null ||
	die "docker network create $FRONT failed"
docker volume create "$VOLUME" >/dev/null || die "docker volume create $VOLUME failed"

# connect NODE: put NODE on the cluster network, at its address, with its
# names.
connect() {
	docker network connect --ip "${IP[$1]}" --alias "$1" --alias objstore "$NET" "$(cname "$1")" ||
		die "docker network connect $NET $(cname "$1") failed"
}

# up NODE: wait until NODE's public API is ready (after a start).
up() {
	local deadline=$((SECONDS + 30))
	hostport "$1"
	until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url "$1")/readyz") == 200 ]]; do
		if [[ $(docker inspect -f '{{.State.Running}}' "$(cname "$1")") != true ]]; then
			docker logs --tail 30 "$(cname "$1")" >&2 || true
			die "$(cname "$1") exited"
		fi
		((SECONDS < deadline)) || {
			docker logs --tail 30 "$(cname "$1")" >&2 || true
			die "$(cname "$1") not ready within 30 s"
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

start_time=$SECONDS

# --- deploy/docker-compose.yml ---------------------------------------------
if ((${#COMPOSE[@]} > 0)); then
	echo "== ${COMPOSE[*]} -f deploy/docker-compose.yml -p $PROJECT up -d"
	NODE1_PORT=$(free_port) NODE2_PORT=$(free_port) NODE3_PORT=$(free_port)
	HP[node1]=127.0.0.1:$NODE1_PORT HP[node2]=127.0.0.1:$NODE2_PORT HP[node3]=127.0.0.1:$NODE3_PORT
	export NODE1_PORT NODE2_PORT NODE3_PORT
	COMPOSE_UP=1
	compose up -d >"$T/compose.out" 2>&1 || {
		cat "$T/compose.out" >&2
		die "compose up failed"
	}
	mapfile -t LOGGED < <(compose ps -q)
	compose_ready() {
		local n
		for n in node1 node2 node3; do
			[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url "$n")/readyz") == 200 ]] || return 1
			ID[$n]=$(curl -s --max-time 2 "$(url "$n")/api/v1/ping") || return 1
		done
	}
	compose_formed() {
		within "$JOIN_WAIT" "all ready" compose_ready
		within "$JOIN_WAIT" "3 alive on every node" all_alive node1 node2 node3 || {
			views "node1 node2 node3" node1 node2 node3
			return 1
		}
	}
	check "compose: the three nodes see each other alive" compose_formed
	compose_shared() {
		put node1 greetings/hello.txt "hello from node1"
		within "$SYNC_WAIT" "on node2" reads node2 greetings/hello.txt "hello from node1"
		del node3 greetings/hello.txt
		within "$SYNC_WAIT" "deleted on node1" deleted node1 greetings/hello.txt
		local code
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X PUT --data-binary "over S3" \
			"$(url node2)/objstore/s3/hello.txt")
		[[ $code == 200 ]] || {
			echo "S3 PUT on node2: status $code"
			return 1
		}
		within "$SYNC_WAIT" "S3 object on node3" s3_reads node3 objstore/s3/hello.txt "over S3"
	}
	check "compose: a write on one node is read, deleted and seen on the others" compose_shared
	compose down -v --remove-orphans >"$T/compose.out" 2>&1 || {
		cat "$T/compose.out" >&2
		die "compose down failed"
	}
	COMPOSE_UP=
fi

LOGGED=()
for n in "${NODES[@]}"; do LOGGED+=("$(cname "$n")"); done
echo "== docker cluster $RUN: nodes a b c on $SUBNET.0/24, backend file:///backend on volume $VOLUME"
host=11
for n in "${NODES[@]}"; do
	IP[$n]=$SUBNET.$host
	host=$((host + 1))
	docker create --name "$(cname "$n")" --network "$FRONT" -p 127.0.0.1::10999 \
		-v "$VOLUME:/backend" \
		-e OBJSTORE_BACKEND=file:///backend -e OBJSTORE_ALLOW_ANONYMOUS=true \
		-e OBJSTORE_ADVERTISE="$n" -e OBJSTORE_JOIN=objstore:11999 \
		-e OBJSTORE_CLUSTER_SECRET="secret-$RUN" -e OBJSTORE_LOG_LEVEL="$LOG_LEVEL" \
		"$IMAGE" >/dev/null || die "docker create $(cname "$n") failed"
	connect "$n"
	docker start "$(cname "$n")" >/dev/null || die "docker start $(cname "$n") failed"
done
for n in "${NODES[@]}"; do
	up "$n"
	ID[$n]=$(curl -s --max-time 5 "$(url "$n")/api/v1/ping") || die "GET /api/v1/ping on $n failed"
	log "node $n: ${ID[$n]} at ${IP[$n]}, public API on ${HP[$n]}"
done

# --- formed ----------------------------------------------------------------
formed() {
	within "$JOIN_WAIT" "3 alive on every node" all_alive a b c || {
		views "a b c" a b c
		return 1
	}
}
check "the three nodes see each other alive" formed

put_read() {
	put a hello/1 "hello from a"
	within "$SYNC_WAIT" "readable on b" reads b hello/1 "hello from a"
	within "$SYNC_WAIT" "on c" reads c hello/1 "hello from a"
	fetch b hello/1
	note "b: X-Objstore-Cache $(grep '^x-objstore-cache:' <<<"$HDRS" | cut -d' ' -f2)$(grep -q '^x-meta-symlink: true$' <<<"$HDRS" && echo ', X-Meta-Symlink')"
}
check "a PUT on a is readable from b and c" put_read

# --- partition -------------------------------------------------------------
# c holds two objects (read twice there: the first read may come from a
# peer and leave a copy), then is cut off from a and b. memberlist forgets
# a dead member after 30 s and nothing brings it back (see
# DOCKER_CLUSTER_LONG): the partition must heal before that, so the steps
# in between are quick.
hold() {
	put a "$2" "$3"
	within "$SYNC_WAIT" "$2 on $1" reads "$1" "$2" "$3"
	fetch "$1" "$2"
	grep -q '^x-objstore-cache: hit$' <<<"$HDRS" || {
		echo "$2 is no local HIT on $1:"
		echo "$HDRS"
		return 1
	}
}
hold_both() {
	hold c part/keep "kept by c"
	hold c part/del "deleted while c is away"
}
check "c holds part/keep and part/del" hold_both

echo "-- docker network disconnect $NET $(cname c)"
docker network disconnect "$NET" "$(cname c)" || die "docker network disconnect failed"
partitioned_at=$SECONDS

writes_while_away() {
	del a part/del
	local i
	for i in 1 2 3 4 5; do put a "part/new/$i" "written while c is away $i"; done
}
check "a deletes part/del and writes part/new/1..5 while c is cut off" writes_while_away

serves_while_away() {
	local t0
	t0=$(now)
	reads c part/keep "kept by c" || {
		echo "c answered part/keep with $CODE: $BODY"
		return 1
	}
	grep -q '^x-objstore-cache: hit$' <<<"$HDRS" || {
		echo "part/keep is no local HIT on c:"
		echo "$HDRS"
		return 1
	}
	reads c part/del "deleted while c is away" || {
		echo "c answered part/del with $CODE: $BODY"
		return 1
	}
	note "2 GETs in $(since "$t0") s"
	put c part/from-c "written on c while away"
}
check "c, cut off, still serves what it holds and takes a write" serves_while_away

seen_dead() {
	within "$DEAD_WAIT" "a and b see c gone" gone_on c a b || {
		views "a b c" a b
		return 1
	}
	within "$DEAD_WAIT" "c sees a and b gone" sees c gone a b || {
		views "a b c" c
		return 1
	}
}
check "a and b see c dead, and c them" seen_dead

echo "-- docker network connect $NET $(cname c) (${IP[c]}), $((SECONDS - partitioned_at)) s after the cut"
connect c

caught_up() {
	within "$HEAL_WAIT" "3 alive on every node" all_alive a b c || {
		views "a b c" a b c
		return 1
	}
	within "$HEAL_WAIT" "c: part/del deleted" deleted c part/del || {
		echo "c answers part/del with $CODE:"
		echo "$HDRS"
		return 1
	}
	local i
	for i in 1 2 3 4 5; do
		waitfor "$SYNC_WAIT" "part/new/$i on c" reads c "part/new/$i" "written while c is away $i"
	done
	within "$SYNC_WAIT" "part/from-c on a" reads a part/from-c "written on c while away"
	reads c part/keep "kept by c"
}
check "c reconnected: alive everywhere, part/del deleted on c, the new keys readable" caught_up

# --- kill ------------------------------------------------------------------
# stream NODE PREFIX: PUT PREFIX/1, PREFIX/2, ... on NODE until $T/stream.stop
# exists, one line per PUT in $T/stream: i, status, seconds.
stream() {
	local i=0 line
	while [[ ! -e $T/stream.stop ]]; do
		i=$((i + 1))
		line=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 15 -X POST \
			-H "X-Meta-ID: $2/$i" --data-binary "stream $i" "$(url "$1")/api/v1/put") || true
		echo "$i $line" >>"$T/stream"
	done
}
acked() { awk '$2 == 200' "$T/stream" | wc -l; }

: >"$T/stream"
rm -f "$T/stream.stop"
stream a kill &
STREAM_PID=$!
deadline=$((SECONDS + 30))
until (($(acked) >= 50)); do
	((SECONDS < deadline)) || die "the PUT stream on a did not reach 50 acknowledged PUTs in 30 s"
	sleep 0.05
done
killed_after=$(wc -l <"$T/stream")
echo "-- docker kill $(cname b) after $killed_after PUTs to a"
docker kill "$(cname b)" >/dev/null || die "docker kill failed"
deadline=$((SECONDS + 60))
until (($(awk -v k="$killed_after" '$1 > k && $2 == 200' "$T/stream" | wc -l) >= 150)); do
	((SECONDS < deadline)) || break # the check below says what happened
	sleep 0.1
done
touch "$T/stream.stop"
wait "$STREAM_PID" || true
STREAM_PID=

stream_acked() {
	local total ok after slow
	total=$(wc -l <"$T/stream")
	ok=$(acked)
	after=$(awk -v k="$killed_after" '$1 > k && $2 == 200' "$T/stream" | wc -l)
	slow=$(awk -v k="$killed_after" '$1 > k { if ($3 > m) m = $3 } END { printf "%.3f", m }' "$T/stream")
	note "$ok of $total PUTs acknowledged, $after after the kill, slowest after it $slow s"
	awk '$2 != 200 { print "not acknowledged: kill/" $1 " status " $2 }' "$T/stream" | head -n 20
	((after >= 150)) || {
		echo "only $after PUTs acknowledged by a in 60 s after b was killed"
		return 1
	}
}
check "a acknowledges PUTs while b is killed" stream_acked

# all_read NODE SECONDS: NODE reads every acknowledged key of the stream,
# each with its body, within SECONDS. One curl per pass reads them all
# over one connection.
all_read() {
	local node=$1 deadline=$((SECONDS + $2)) t0 i code n
	t0=$(now)
	awk '$2 == 200 { print $1 }' "$T/stream" >"$T/missing"
	n=$(wc -l <"$T/missing")
	while :; do
		rm -rf "$T/got"
		mkdir "$T/got"
		while read -r i; do
			printf 'url = "%s/api/v1/get/kill/%s"\noutput = "%s/got/%s"\n' "$(url "$node")" "$i" "$T" "$i"
		done <"$T/missing" >"$T/read.cfg"
		curl -s --max-time 15 -K "$T/read.cfg" -w '%{http_code}\n' >"$T/codes" || true
		paste -d' ' "$T/missing" "$T/codes" >"$T/results"
		: >"$T/missing"
		while read -r i code; do
			if [[ $code != 200 || $(cat "$T/got/$i" 2>/dev/null) != "stream $i" ]]; then
				echo "$i" >>"$T/missing"
				CODE=$code BODY=$(cat "$T/got/$i" 2>/dev/null || true)
			fi
		done <"$T/results"
		[[ -s $T/missing ]] || break
		if ((SECONDS >= deadline)); then
			echo "$node lacks $(wc -l <"$T/missing") of $n acknowledged keys after $2 s," \
				"e.g. kill/$(tail -n 1 "$T/missing"): $CODE $BODY"
			return 1
		fi
		sleep 0.25
	done
	note "all $n on $node within $(since "$t0") s"
}
read_after_kill() {
	all_read a "$SYNC_WAIT"
	all_read c "$SYNC_WAIT"
	within "$DEAD_WAIT" "a and c see b gone" gone_on b a c || {
		views "a b c" a c
		return 1
	}
}
check "every acknowledged key is readable from a and c" read_after_kill

echo "-- docker start $(cname b)"
docker start "$(cname b)" >/dev/null || die "docker start failed"
up b

rejoined() {
	within "$HEAL_WAIT" "3 alive on every node" all_alive a b c || {
		views "a b c" a b c
		return 1
	}
	all_read b "$SYNC_WAIT"
	reads b hello/1 "hello from a"
	deleted b part/del
	reads b part/from-c "written on c while away"
}
check "b restarted: rejoins and reads every acknowledged key" rejoined

# --- pause -----------------------------------------------------------------
# A frozen node still accepts TCP connections (the kernel answers) but
# never replies, which is harder on its peers than a dead one.
hold c pause/del "deleted while c is frozen" >"$T/hold.out" 2>&1 || {
	cat "$T/hold.out"
	die "could not place pause/del on c"
}
echo "-- docker pause $(cname c)"
docker pause "$(cname c)" >/dev/null || die "docker pause failed"

frozen() {
	local i t0
	t0=$(now)
	for i in 1 2 3 4 5; do put a "pause/new/$i" "written while c is frozen $i"; done
	del a pause/del
	note "5 PUTs and a DELETE on a in $(since "$t0") s"
	# b reads them at once: some of their copies are on c.
	t0=$(now)
	for i in 1 2 3 4 5; do
		waitfor "$SYNC_WAIT" "pause/new/$i on b" reads b "pause/new/$i" "written while c is frozen $i"
	done
	note "b read them in $(since "$t0") s"
	within "$DEAD_WAIT" "a and b see c gone" gone_on c a b || {
		views "a b c" a b
		return 1
	}
}
check "c frozen: a takes writes, b reads them, a and b see c dead" frozen

echo "-- docker unpause $(cname c)"
docker unpause "$(cname c)" >/dev/null || die "docker unpause failed"

thawed() {
	within "$HEAL_WAIT" "3 alive on every node" all_alive a b c || {
		views "a b c" a b c
		return 1
	}
	within "$HEAL_WAIT" "pause/del deleted on c" deleted c pause/del
	local i
	for i in 1 2 3 4 5; do
		waitfor "$SYNC_WAIT" "pause/new/$i on c" reads c "pause/new/$i" "written while c is frozen $i"
	done
	put c pause/after "written on c after the thaw"
	within "$SYNC_WAIT" "a reads c's new write" reads a pause/after "written on c after the thaw"
}
check "c unpaused: alive everywhere, catches up, its writes reach a" thawed

# --- a long partition (opt-in) ---------------------------------------------
if [[ -n ${DOCKER_CLUSTER_LONG:-} ]]; then
	echo "-- docker network disconnect $NET $(cname c) for 45 s"
	docker network disconnect "$NET" "$(cname c)" || die "docker network disconnect failed"
	deadline=$((SECONDS + 45))
	put a long/1 "written during a long cut" >/dev/null || true
	while ((SECONDS < deadline)); do sleep 1; done
	connect c
	long_heal() {
		within "$HEAL_WAIT" "3 alive on every node" all_alive a b c || {
			views "a b c" a b c
			return 1
		}
		within "$SYNC_WAIT" "long/1 on c" reads c long/1 "written during a long cut"
	}
	check "c back after 45 s cut off: alive everywhere, caught up" long_heal
fi

echo "== docker cluster: $PASSED checks passed, ${#FAILED[@]} failed ($((SECONDS - start_time)) s)"
if ((${#FAILED[@]} > 0)); then
	printf '   failed: %s\n' "${FAILED[@]}"
	exit 1
fi
