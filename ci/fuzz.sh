#!/usr/bin/env bash
# Each fuzz target for a bounded time (FUZZTIME, default 15s): scenario
# decoding and validation, size parsing, result and probe report decoding.
# The seed corpora (testdata/, f.Add) also run in every `go test`.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
FUZZTIME=${FUZZTIME:-15s}
targets=(
  "./framework/scenario FuzzParse"
  "./framework/scenario FuzzParseBytes"
  "./framework/probe FuzzParseSize"
  "./framework/report FuzzDecode"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log "fuzz $name ($pkg) for $FUZZTIME"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
done
