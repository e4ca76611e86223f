package main

// version is set at build time:
// go build -ldflags "-X main.version=v1.2.3" ./cmd/objstore
var version = "dev"
