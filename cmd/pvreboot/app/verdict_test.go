package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// results are the report package's golden Results: one that passes, one
// whose after-reboot phase regressed.
const (
	healthyResult   = "../../../framework/report/testdata/healthy.json"
	regressedResult = "../../../framework/report/testdata/regressed.json"
)

// pvreboot report renders and exits 0 whatever the verdict (a step summary
// pipeline must not break on a FAIL); --gate makes the verdict the exit code.
func TestReportExitsZeroUnlessGated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(regressedResult)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["errors"] = []string{"wait for node: context deadline exceeded"}
	b, _ = json.Marshal(doc)
	errored := filepath.Join(dir, "errored.json")
	if err := os.WriteFile(errored, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string // the output contains it
		err  string // stderr contains it
	}{
		{name: "fail renders", args: []string{"report", regressedResult}, code: 0, out: "pvreboot sendfile-after-reboot: FAIL"},
		{name: "fail markdown", args: []string{"report", "--format", "markdown", regressedResult}, code: 0, out: "**FAIL**"},
		{name: "fail gated", args: []string{"report", "--gate", regressedResult}, code: 1, out: "FAIL", err: "the result's verdict is FAIL: 3 budget(s) violated"},
		{name: "pass gated", args: []string{"report", "--gate", healthyResult}, code: 0, out: "PASS"},
		{name: "errors gated", args: []string{"report", "--gate", "-o", "markdown", errored}, code: 3, out: "**ERROR**", err: "1 run error(s)"},
		{name: "errors ungated", args: []string{"report", errored}, code: 0, out: "ERROR"},
		{name: "html", args: []string{"report", "-o", "html", regressedResult}, code: 0, out: `<figure id="ecdf" data-series="baseline,after-reboot,after-recreate">`},
		{name: "openmetrics", args: []string{"report", "--format", "openmetrics", regressedResult}, code: 0,
			out: `pvreboot_verdict{scenario="sendfile-after-reboot",cluster="pvreboot",node="pvreboot-worker",verdict="fail"} 1`},
		{name: "unknown format", args: []string{"report", "-o", "pdf", regressedResult}, code: 2,
			err: `--format: unknown format "pdf" (want text, markdown, junit, json, html, openmetrics)`},
		{name: "missing file", args: []string{"report", filepath.Join(dir, "none.json")}, code: 2, err: "read result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(out, tt.out) {
				t.Errorf("output lacks %q:\n%.2000s", tt.out, out)
			}
			if !strings.Contains(stderr, tt.err) {
				t.Errorf("stderr %q lacks %q", stderr, tt.err)
			}
		})
	}
}
