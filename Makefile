# Thin targets: the work is in ci/.
.PHONY: build test verify fuzz bench images cluster e2e e2e-kind qualify
build:
	ci/build.sh
test:
	ci/test.sh
verify:
	ci/verify.sh
# Each fuzz target for FUZZTIME (default 15s).
fuzz:
	ci/fuzz.sh
bench:
	go test -run XXX -bench . -benchtime 2s ./framework/probe
# Docker engine, kind node image and probe image, built where missing.
images:
	ci/images.sh
# A Ready 1 control-plane + 2 worker kind cluster named pvreboot.
cluster:
	ci/cluster.sh
# The main job: the default reboot scenario on kind (SCENARIO=... for another).
e2e:
	ci/e2e.sh $(SCENARIO)
# A qualification: the shipped plan (PLAN=... for another) over filesystems
# and copy methods, two reboot cycles per case, on three kind workers at once.
qualify:
	ci/qualify.sh $(PLAN)
# The Ginkgo suites on real kind clusters: cluster bring-up, then every
# shipped reboot scenario (healthy and both regressions).
e2e-kind:
	ci/e2e-kind.sh
