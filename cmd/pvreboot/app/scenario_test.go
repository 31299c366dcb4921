package app

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// TestShippedScenariosOutsideTheRepository runs pvreboot where `go install`
// leaves it: in a directory with no repository around. Not parallel: it
// changes the working directory.
func TestShippedScenariosOutsideTheRepository(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	shipped := shippedScenarios()
	if !slices.Contains(shipped, "sendfile-after-reboot") || len(shipped) < 2 {
		t.Fatalf("shipped scenarios %v", shipped)
	}

	t.Run("validate by name", func(t *testing.T) {
		code, out, stderr := run(t, "validate", "sendfile-after-reboot", "regression-io-throttle.yaml")
		if code != 0 || out != "sendfile-after-reboot: valid\nregression-io-throttle.yaml: valid\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})
	t.Run("every shipped scenario validates by name", func(t *testing.T) {
		code, out, stderr := run(t, append([]string{"validate"}, shipped...)...)
		if code != 0 || strings.Count(out, ": valid\n") != len(shipped) {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})
	// Loaded, then refused for the missing flag: the name resolved, and no
	// cluster was needed to find out. (On a kind cluster a run given no
	// probe image assembles one, so the refusal is on an existing cluster.)
	for _, cmd := range []string{"run", "calibrate"} {
		t.Run(cmd+" by name", func(t *testing.T) {
			code, _, stderr := run(t, cmd, "sendfile-after-reboot", "--kubeconfig", filepath.Join(t.TempDir(), "none"))
			if code != 2 || !strings.Contains(stderr, "--probe-image: required") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
	for _, args := range [][]string{
		{"run", "no-such-scenario", "--probe-image", "x"},
		{"calibrate", "no-such-scenario.yaml", "--probe-image", "x"},
		{"run", "scenarios/sendfile-after-reboot.yaml", "--probe-image", "x"}, // a path is not a name
		{"validate", "no-such-scenario"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, stderr := run(t, args...)
			if code != 2 || !strings.Contains(out+stderr, "no such file, and no shipped scenario of that name (shipped: "+strings.Join(shipped, ", ")+")") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
			}
		})
	}
	t.Run("a file path wins", func(t *testing.T) {
		// A file named as a shipped scenario, with a problem of its own.
		if err := os.WriteFile("sendfile-after-reboot.yaml", []byte("apiVersion: pvreboot.dev/v1alpha1\nkind: Scenario\nmetadata: {name: Local_Copy}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove("sendfile-after-reboot.yaml")
		code, out, _ := run(t, "validate", "sendfile-after-reboot.yaml")
		if code != 2 || !strings.Contains(out, "sendfile-after-reboot.yaml: invalid:") || !strings.Contains(out, "metadata.name") {
			t.Errorf("validate of the local file: exit %d, stdout %q", code, out)
		}
		// Without .yaml it names no file here: the shipped one.
		if code, out, _ := run(t, "validate", "sendfile-after-reboot"); code != 0 {
			t.Errorf("validate of the shipped one: exit %d, stdout %q", code, out)
		}
	})
	t.Run("scenario show", func(t *testing.T) {
		want, err := fs.ReadFile(pvreboot.Files(), "scenarios/sendfile-after-reboot.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"sendfile-after-reboot", "sendfile-after-reboot.yaml"} {
			code, out, stderr := run(t, "scenario", "show", name)
			if code != 0 || out != string(want) {
				t.Errorf("show %s: exit %d, stderr %q, stdout differs from the shipped file", name, code, stderr)
			}
		}
	})
	t.Run("kind config of a shipped scenario", func(t *testing.T) {
		s, err := loadScenario("sendfile-after-reboot")
		if err != nil {
			t.Fatal(err)
		}
		// What clusterConfig and runner.Kind do with it: no file here, so the shipped copy.
		file, remove, err := runner.KindConfigFile(s.Spec.Cluster.Kind.Config, dir, pvreboot.Files())
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
		got, err := os.ReadFile(file)
		want, _ := fs.ReadFile(pvreboot.Files(), s.Spec.Cluster.Kind.Config)
		if err != nil || len(want) == 0 || string(got) != string(want) {
			t.Errorf("%s resolved to %s, not the shipped copy (%v)", s.Spec.Cluster.Kind.Config, file, err)
		}
		// A file of that name here wins.
		local := filepath.Join(dir, "kind-config", "two-workers.yaml")
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte("kind: Cluster\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(filepath.Dir(local))
		if file, _, _ := runner.KindConfigFile(s.Spec.Cluster.Kind.Config, dir, pvreboot.Files()); file != local {
			t.Errorf("with %s present, resolved to %s", local, file)
		}
	})
}

func TestScenarioList(t *testing.T) {
	t.Parallel()
	code, out, stderr := run(t, "scenario", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(shippedScenarios())+1 || !strings.HasPrefix(lines[0], "NAME ") {
		t.Fatalf("want a header and one line per shipped scenario:\n%s", out)
	}
	code, out, stderr = run(t, "scenario", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var entries []shippedEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, e := range entries {
		names = append(names, e.Name)
		b, _, _ := shippedScenario(e.Name)
		s, err := scenario.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		// The name run takes is the name reports show.
		if s.Metadata.Name != e.Name || e.Description == "" || e.Description != s.Metadata.Description {
			t.Errorf("%s: metadata.name %q, description %q", e.Name, s.Metadata.Name, e.Description)
		}
		if !strings.HasPrefix(lines[i+1], e.Name+" ") || !strings.HasSuffix(lines[i+1], e.Description) {
			t.Errorf("text line %q for %s", lines[i+1], e.Name)
		}
	}
	if !slices.Equal(names, shippedScenarios()) {
		t.Errorf("json names %v, want %v", names, shippedScenarios())
	}
}

func TestScenarioCommandsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"scenario", "list", "-o", "yaml"}, want: `--output: unknown format "yaml"`},
		{args: []string{"scenario", "list", "extra"}, want: `pvreboot scenario list: unexpected argument "extra"`},
		{args: []string{"scenario", "show"}, want: "pvreboot scenario show: want 1 argument (NAME), got 0"},
		{args: []string{"scenario", "show", "nope"}, want: `no shipped scenario "nope" (shipped: block-after-reboot, `},
		{args: []string{"scenario", "show", "../scenarios/sendfile-after-reboot"}, want: "no shipped scenario"},
		{args: []string{"scenario", "init", "--name", "Bad_Name"}, want: `--name: "Bad_Name" is not a scenario name`},
		{args: []string{"scenario", "init", "--name", ""}, want: `--name: "" is not a scenario name`},
		{args: []string{"scenario", "init", "-o", dir + "/no/such/s.yaml"}, want: "--output: " + dir + "/no/such: no such directory"},
		{args: []string{"scenario", "init", "-o", ""}, want: "--output: empty"},
		{args: []string{"scenario", "init", "extra"}, want: `pvreboot scenario init: unexpected argument "extra"`},
		{args: []string{"scenario"}, want: "pvreboot scenario: want a command (init, list, show)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q, want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

func TestScenarioInit(t *testing.T) {
	t.Parallel()
	code, out, stderr := run(t, "scenario", "init", "--name", "mine")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s, err := scenario.Parse([]byte(out))
	if err != nil {
		t.Fatalf("the starter scenario does not validate: %v", err)
	}
	if s.Metadata.Name != "mine" {
		t.Errorf("metadata.name %q", s.Metadata.Name)
	}

	file := filepath.Join(t.TempDir(), "mine.yaml")
	if code, _, stderr := run(t, "scenario", "init", "--name", "mine", "-o", file); code != 0 || !strings.Contains(stderr, "wrote "+file) {
		t.Fatalf("init -o: exit %d, stderr %q", code, stderr)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != out {
		t.Fatalf("the file differs from stdout's scenario (%v)", err)
	}
	if code, vout, _ := run(t, "validate", file); code != 0 {
		t.Errorf("validate %s: exit %d: %s", file, code, vout)
	}
	// Never overwritten unless --force.
	if err := os.WriteFile(file, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "scenario", "init", "-o", file)
	if b, _ := os.ReadFile(file); code != 2 || !strings.Contains(stderr, "--output: "+file+" exists (pass --force to overwrite it)") || string(b) != "mine\n" {
		t.Errorf("without --force: exit %d, stderr %q, file %q", code, stderr, b)
	}
	if code, _, stderr := run(t, "scenario", "init", "--name", "other", "-o", file, "--force"); code != 0 {
		t.Errorf("with --force: exit %d, stderr %q", code, stderr)
	}
	if s, err := loadScenario(file); err != nil || s.Metadata.Name != "other" {
		t.Errorf("after --force: %v", err)
	}
}

// TestScenarioInitExplainsEveryField: every line of the starter that sets a
// field has a comment of its own or follows a comment line.
func TestScenarioInitExplainsEveryField(t *testing.T) {
	t.Parallel()
	key := regexp.MustCompile(`^\s*(- )?[A-Za-z]+:`)
	sc := bufio.NewScanner(strings.NewReader(string(starterScenario("mine"))))
	prev, fields := "", 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if key.MatchString(line) {
			fields++
			if !strings.Contains(line, " # ") && !strings.HasPrefix(strings.TrimSpace(prev), "#") {
				t.Errorf("line %d sets a field without a comment: %q", n, line)
			}
		}
		prev = line
	}
	if fields < 30 {
		t.Errorf("only %d fields found: the check does not see the scenario", fields)
	}
}
