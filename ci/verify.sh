#!/usr/bin/env bash
# gofmt, go vet and the import-direction rule in one exit code.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
rc=0
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  log "gofmt needed on: $unformatted"; rc=1
fi
go vet ./... || rc=1
go vet -tags e2e ./... || rc=1
# framework/ is the library: it must never import ginkgo, gomega, e2e/ or cmd/.
bad=$(go list -tags e2e -f '{{.ImportPath}}: {{join .Imports " "}}' ./framework/... |
  tr ' ' '\n' | awk '/:$/{pkg=$0; next} /onsi\/ginkgo|onsi\/gomega|pvreboot\/pvreboot\/(e2e|cmd)(\/|$)/{print pkg, $0}')
if [ -n "$bad" ]; then
  log "framework/ imports what it must not:"; echo "$bad" >&2; rc=1
fi
[ $rc = 0 ] && log "verify: ok"
exit $rc
