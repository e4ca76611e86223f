#!/usr/bin/env bash
# Builds SeaweedFS `weed` (an S3 server for end-to-end tests) at a pinned
# version into a cache dir outside the repo, once per version, and prints the
# binary's path on stdout. Build logs go to stderr.
#
# `go install` refuses seaweedfs (its go.mod has a replace directive), so it is
# built through a throwaway wrapper module; see /work/shared/S3-SERVERS.md.
# Cold build: ~15 min and ~2 GB on 2 cores; relinks in seconds when the Go
# module and build caches are warm.
set -euo pipefail

version=v0.0.0-20261109003541-7506e5f91cd6
cache=${XDG_CACHE_HOME:-$HOME/.cache}/objstore-ci/weed-$version
bin=$cache/weed

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "weed.sh: building seaweedfs $version (cold: ~15 min)" >&2
(
	cd "$work"
	go mod init weedbuild >&2
	go mod edit -require=github.com/seaweedfs/seaweedfs@$version \
		-replace=github.com/tyler-smith/go-bip39=github.com/cosmos/go-bip39@v1.0.0
	# The wrapper module has no toolchain opinion of its own; keep the
	# caller's Go.
	CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" \
		-o "$work/weed" github.com/seaweedfs/seaweedfs/weed >&2
)
# Rename into place so an interrupted build never leaves a half-written binary
# that the existence check above would trust.
mv "$work/weed" "$bin.tmp.$$"
mv "$bin.tmp.$$" "$bin"
echo "weed.sh: built $bin" >&2
echo "$bin"
