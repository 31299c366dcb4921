#!/usr/bin/env bash
# Build the pvreboot CLI and the static copyprobe into bin/.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
mkdir -p bin
go build -o bin/ ./cmd/pvreboot ./cmd/runc-capfix
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/copyprobe ./cmd/copyprobe
log "built: $(ls bin | tr '\n' ' ')"
