package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/report"
	"sigs.k8s.io/yaml"
)

// validate -o json|yaml prints one document: each file, valid or not with
// every problem; the exit code is as with text.
func TestValidateOutput(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: x}\nspec: {workload: {method: nope}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := "../../../scenarios/sendfile-after-reboot.yaml"
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := run(t, "validate", "-o", format, good, bad)
			var v validateReport
			var err error
			if format == "json" {
				err = json.Unmarshal([]byte(out), &v)
			} else {
				err = yaml.UnmarshalStrict([]byte(out), &v)
			}
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if code != 2 || !strings.Contains(stderr, "1 of 2 scenario files are invalid") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			if len(v.Files) != 2 || v.Invalid != 1 || !v.Files[0].Valid || v.Files[0].Scenario != "sendfile-after-reboot" ||
				v.Files[1].Valid || len(v.Files[1].Errors) == 0 || !strings.Contains(strings.Join(v.Files[1].Errors, "\n"), "spec.workload.method") {
				t.Errorf("document %+v", v)
			}
		})
	}
	if code, out, _ := run(t, "validate", good); code != 0 || out != good+": valid\n" {
		t.Errorf("text: exit %d, %q", code, out)
	}
}

// An unknown -o is refused before anything runs (run would otherwise make a
// cluster first).
func TestBadOutputExits2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"validate", "-o", "xml", "../../../scenarios/sendfile-after-reboot.yaml"},
		{"run", "-o", "html", "../../../scenarios/sendfile-after-reboot.yaml", "--probe-image", "x"},
		{"compare", "--output", "csv", "a.json", "b.json"},
	} {
		code, out, stderr := run(t, args...)
		if code != 2 || out != "" || !strings.Contains(stderr, "-o/--output: unknown format") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
}

// run -o json|yaml prints the Result as one document on stdout, and where
// the outputs are on stderr.
func TestRunPrintsResultDocument(t *testing.T) {
	t.Parallel()
	res := &report.Result{Schema: report.Schema, Scenario: "s", Failure: &report.Failure{Step: "prepare", Error: "boom"}, Errors: []string{"prepare: boom"}}
	for _, format := range []string{"json", "yaml", "text"} {
		var out, errb bytes.Buffer
		g := &globals{s: Streams{Out: &out, Err: &errb}}
		if err := printResult(g, format, "DIR", res); err != nil {
			t.Fatal(err)
		}
		var back report.Result
		switch format {
		case "json":
			if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Failure == nil || back.Failure.Step != "prepare" {
				t.Errorf("json: %v %+v", err, back)
			}
		case "yaml":
			if err := yaml.UnmarshalStrict(out.Bytes(), &back); err != nil || back.Failure == nil || back.Failure.Step != "prepare" {
				t.Errorf("yaml: %v %+v", err, back)
			}
		case "text":
			if !strings.Contains(out.String(), "results in DIR") || !strings.Contains(out.String(), "pvreboot s: ERROR") {
				t.Errorf("text: %q", out.String())
			}
			continue
		}
		if !strings.Contains(errb.String(), "results in DIR") {
			t.Errorf("%s: stderr %q", format, errb.String())
		}
	}
}
