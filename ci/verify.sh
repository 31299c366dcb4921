#!/usr/bin/env bash
# gofmt, go vet, the import-direction rule and shellcheck in one exit code.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
rc=0
mapfile -t gofiles < <(git ls-files '*.go' 2>/dev/null || find . -name '*.go')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
  log "gofmt needed on: $unformatted"; rc=1
fi
go vet ./... || rc=1
go vet -tags e2e ./... || rc=1
# framework/ is the library: it must never import ginkgo, gomega, e2e/, cmd/
# or the module root (the embedded assets: the CLI hands them in). The fault
# package never reaches into the runner or the ledger.
bad=$(go list -tags e2e -f '{{.ImportPath}}: {{join .Imports " "}}' ./framework/... |
  tr ' ' '\n' | awk '/:$/{pkg=$0; next}
    /onsi\/ginkgo|onsi\/gomega|pvreboot\/pvreboot\/(e2e|cmd)(\/|$)|pvreboot\/pvreboot$/{print pkg, $0}
    pkg ~ /framework\/fault:$/ && /pvreboot\/framework\/(runner|ledger)$/{print pkg, $0}')
if [ -n "$bad" ]; then
  log "framework/ imports what it must not:"; echo "$bad" >&2; rc=1
fi
# Lint every script (warnings and errors): the ci/ scripts, and the node-side and pod-side
# scripts the framework embeds (they take values only as positional
# parameters; see framework/*/scripts/).
if ! command -v shellcheck >/dev/null; then
  log "installing shellcheck"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
mapfile -t scripts < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh')
shellcheck --severity=warning -x -P SCRIPTDIR "${scripts[@]}" || rc=1
[ $rc = 0 ] && log "verify: ok"
exit $rc
