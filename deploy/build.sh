#!/usr/bin/env bash
# Build the objstore image: a static binary of this checkout in an image
# FROM scratch (deploy/Dockerfile). Nothing is pulled.
#
#   bash deploy/build.sh [TAG]     # default objstore:dev
#
# The build context is a temporary directory holding the Dockerfile, the
# binary, the host's CA bundle and the image's empty directories; it is
# removed afterwards. Prints the tag on stdout when done.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-objstore:dev}
log() { echo "build: $*" >&2; }
die() {
	echo "build: $*" >&2
	exit 1
}

command -v docker >/dev/null || die "docker is missing"
ctx=$(mktemp -d "${TMPDIR:-/tmp}/objstore-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

ver=$(git describe --always --dirty 2>/dev/null || echo dev)
log "go build objstore $ver (static)"
CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$ver" -o "$ctx/objstore" ./cmd/objstore ||
	die "go build failed"

cp deploy/Dockerfile "$ctx/Dockerfile"
mkdir -p "$ctx/rootfs/data" "$ctx/rootfs/backend"
ca=
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
	if [[ -s $f ]]; then
		ca=$f
		break
	fi
done
if [[ -n $ca ]]; then
	cp "$ca" "$ctx/ca-certificates.crt"
else
	log "warning: no CA bundle on this host: the image cannot verify an https:// backend"
	: >"$ctx/ca-certificates.crt"
fi

# Without the buildx plugin, ask for the classic builder (which needs no
# image either) rather than fail.
if ! docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=0
fi
log "docker build -t $TAG"
docker build -t "$TAG" "$ctx" >"$ctx/build.log" 2>&1 || {
	cat "$ctx/build.log" >&2
	die "docker build failed"
}
echo "$TAG"
