# Thin targets: the work is in ci/.
.PHONY: build test verify bench
build:
	ci/build.sh
test:
	ci/test.sh
verify:
	ci/verify.sh
bench:
	go test -run XXX -bench . -benchtime 2s ./framework/probe
