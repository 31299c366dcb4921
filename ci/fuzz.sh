#!/usr/bin/env bash
# Each fuzz target for a bounded time (FUZZTIME, default 15s): scenario
# decoding and validation, size parsing, result and probe report decoding.
# The seed corpora (testdata/, f.Add) also run in every `go test`.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
FUZZTIME=${FUZZTIME:-15s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-3s}
targets=(
  "./framework/scenario FuzzParse"
  "./framework/scenario FuzzParseBytes"
  "./framework/probe FuzzParseSize"
  "./framework/report FuzzDecode"
)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log "fuzz $name ($pkg) for $FUZZTIME"
  # Minimising a new input is bounded too: the report corpus holds whole
  # results, and minimising one took the whole FUZZTIME (9 executions).
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg"
done
