# shellcheck shell=bash
# Shell functions bench/run.sh and bench/cluster.sh share; sourced, not
# run. They use the caller's globals: T (the temporary directory), PIDS
# (an associative array, name → pid of every process started) and KEEP.

die() {
	echo "bench: $*" >&2
	exit 2
}
log() { echo "bench: $*" >&2; }

stop() { # stop NAME: TERM the process and wait for it
	local pid=${PIDS[$1]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$1]"
}
cleanup() {
	local name
	for name in "${!PIDS[@]}"; do stop "$name"; done
	if [[ -n $KEEP ]]; then log "kept $T"; else rm -rf "$T"; fi
}

# start NAME CMD...: run CMD in the background, logging to $T/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	# shellcheck disable=SC2004 # PIDS is the caller's associative array
	PIDS[$name]=$!
}

# free_port VAR: set VAR to a loopback TCP port nobody listens on, and not
# handed out before. (It sets a variable rather than printing, so that the
# list of ports handed out survives: $(...) would run it in a subshell.)
# The port comes from below the kernel's ephemeral range, which the
# benchmark's own client connections draw from by the thousand: a port
# picked there can be taken by one of them before its server binds it.
USED_PORTS=" "
EPHEMERAL_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
	local p _ low=10000 span=$((EPHEMERAL_LOW - 10000))
	((span > 1000)) || { low=1024 span=$((EPHEMERAL_LOW - 1024)); }
	((span > 0)) || die "no ports below the ephemeral range ($EPHEMERAL_LOW) to serve on"
	for _ in $(seq 200); do
		p=$((low + (RANDOM * 32768 + RANDOM) % span))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			printf -v "$1" %s "$p"
			return
		fi
	done
	die "found no free port"
}

# busy_pct: the share of all cores' time that was not idle over one second,
# waiting for I/O counted as busy. Run when none of the script's servers
# are, it measures other people's load (CPU or disk), which skews every
# number, not only one side of a ratio.
busy_pct() {
	local a b
	a=$(awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5 }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[1] - x[1];
		printf "%.0f", (t > 0) ? 100 * (t - (y[2] - x[2])) / t : 0 }'
}

# cpu_mark: clock ticks so far of all cores ("total busy"), of their time
# not idle nor waiting, and of the script with every child it has reaped
# (servers, wrk, load generators). Two marks tell how much CPU others took
# in between: busy minus ours (others_pct).
cpu_mark() {
	local ours
	ours=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$$/stat")
	awk -v ours="$ours" '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $2+$3+$4+$7+$8+$9, ours }' /proc/stat
}
others_pct() { # others_pct MARK: others' share of the CPU since MARK
	awk -v a="$1" -v b="$(cpu_mark)" 'BEGIN { split(a, x, " "); split(b, y, " ");
		t = y[1] - x[1]; o = (y[2] - x[2]) - (y[3] - x[3]); printf "%.0f", (t > 0 && o > 0) ? 100 * o / t : 0 }'
}

# disk_probe DIR: how fast the disk under DIR is at what PUTs wait for,
# as "4 KiB O_DSYNC write X ms, N file creates/s". PUT figures follow the
# disk: on a virtual machine the same disk can be twice as slow one hour
# as the next, and on ext4 without a journal, creating files in a block
# group where many were deleted in the last minutes costs ten times more.
# The probe's files stay (deleting them would slow the creates after it).
disk_probe() {
	local dir=$1/disk-probe t0 t1 dsync creates
	mkdir -p "$dir"
	t0=$(date +%s%N)
	dd if=/dev/zero of="$dir/dsync" bs=4k count=500 oflag=dsync status=none
	t1=$(date +%s%N)
	dsync=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f", d / 500 / 1e6 }')
	t0=$(date +%s%N)
	seq -f "$dir/f%.0f" 5000 | xargs touch
	t1=$(date +%s%N)
	creates=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.0f", 5000 / (d / 1e9) }')
	echo "4 KiB O_DSYNC write $dsync ms, $creates file creates/s"
}

# Results by round. Each ratio a script reports is the median of the
# rounds' ratios, each side's figure the median of its rounds: on a shared
# virtual machine, throughput can halve from a few seconds to the next,
# and a ratio of two measurements taken back to back, with the median over
# rounds, is what such swings move least (the best round of each side,
# taken apart, pairs one side's luckiest seconds with the other's).
declare -A VALS=() # metric → its value in each round, space-separated
add() { VALS[$1]+="$2 "; }
word() { tr ' ' '\n' <<<"${VALS[$1]}" | sed -n "${2}p"; } # word METRIC ROUND
median() { # median NUMBER...: the middle one (the mean of the two middle ones)
	printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print 0; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
med() { # med METRIC: the median of METRIC's rounds
	# shellcheck disable=SC2086 # one word per round
	median ${VALS[$1]}
}
paired() { # paired METRIC REFERENCE: the median of the rounds' METRIC/REFERENCE
	local -a a b
	local i r=()
	read -ra a <<<"${VALS[$1]}"
	read -ra b <<<"${VALS[$2]}"
	for i in "${!a[@]}"; do
		r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]:-0}" 'BEGIN { print (y > 0) ? x / y : 0 }')")
	done
	median "${r[@]}"
}
rr() { # rr METRIC REFERENCE ROUND: METRIC/REFERENCE in ROUND, as "0.00x"
	awk -v a="$(word "$1" "$3")" -v b="$(word "$2" "$3")" 'BEGIN { printf "%.2fx", (b > 0) ? a / b : 0 }'
}
