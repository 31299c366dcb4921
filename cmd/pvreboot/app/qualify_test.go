package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQualifyDryRun(t *testing.T) {
	t.Parallel()
	code, out, errs := run(t, "qualify", "qualify-filesystems", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"qualification qualify-filesystems: 8 case(s) x 2 cycle(s)", "filesystem-btrfs-copy_file_range", "block-readwrite"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "qualify", "../../../scenarios/qualify-filesystems.yaml", "--dry-run", "-o", "json")
	var doc struct {
		Cases []struct{ ID string } `json:"cases"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Cases) != 8 {
		t.Fatalf("json: exit %d, %s", code, out)
	}
}

func TestQualifyBadInputExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := 0
	plan := func(body string) string {
		n++
		f := filepath.Join(dir, fmt.Sprintf("plan-%d.yaml", n))
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	head := "apiVersion: pvreboot.dev/v1alpha1\nkind: Qualification\nmetadata: {name: q}\nspec:\n"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such plan", []string{"qualify", "no-such-plan", "--dry-run"}, "no shipped qualification plan of that name (shipped: qualify-filesystems)"},
		{"a scenario", []string{"qualify", "sendfile-after-reboot", "--dry-run"}, "no shipped qualification plan"},
		{"a scenario file", []string{"qualify", "../../../scenarios/sendfile-after-reboot.yaml", "--dry-run"}, "is a Scenario: run it with `pvreboot run`"},
		{"unknown axis", []string{"qualify", plan(head + "  base: {file: sendfile-after-reboot}\n  matrix: {colour: [red]}\n"), "--dry-run"}, "spec.matrix.colour: Forbidden: line 6: unknown field"},
		{"base next to the plan or shipped", []string{"qualify", plan(head + "  base: {file: nope.yaml}\n"), "--dry-run"}, "spec.base.file: Invalid value: \"nope.yaml\": no such file next to the plan, and no shipped scenario"},
		{"hostile value stays a value", []string{"qualify", plan(head + "  base: {file: sendfile-after-reboot}\n  matrix: {mountOptions: ['noatime;reboot']}\n"), "--dry-run"}, `mount option "noatime;reboot"`},
		{"bad output", []string{"qualify", "qualify-filesystems", "--dry-run", "-o", "xml"}, "--output: unknown format"},
		{"bad parallel", []string{"qualify", "qualify-filesystems", "--parallel", "-1"}, "--parallel -1"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, errs, tc.want)
		}
	}
}
