package templates

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

const (
	workflowFile = "github/pvreboot.yml"
	gitlabFile   = "gitlab/.gitlab-ci.yml"
)

// shellcheck returns the shellcheck executable, or "" (with a log line) when
// it is not installed: ci/verify.sh installs it, so CI always checks scripts.
func shellcheck(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck not installed: run: and script: blocks are not shell-checked (ci/verify.sh installs it)")
		return ""
	}
	return p
}

// lintWorkflow lints one workflow file as it would sit in a repository's
// .github/workflows/, with shellcheck on its run: scripts when available.
func lintWorkflow(t *testing.T, content []byte) ([]*actionlint.Error, string) {
	t.Helper()
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows", "pvreboot.yml")
	if err := os.MkdirAll(filepath.Dir(wf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{
		Shellcheck: shellcheck(t),
		WorkingDir: dir,
		Oneline:    true,
	})
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	errs, err := l.LintFile(wf, nil)
	if err != nil {
		t.Fatalf("actionlint %s: %v", wf, err)
	}
	return errs, out.String()
}

func TestGitHubWorkflow(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		old     string // replaced by new in the shipped workflow; "" lints it as shipped
		new     string
		wantErr string // "" wants no error
	}{
		{name: "shipped"},
		{name: "broken YAML", old: "\n  reboot-e2e:\n", new: "\n  reboot-e2e:\n   - broken\n", wantErr: "[syntax-check]"},
		{name: "unknown action input", old: "go-version: ", new: "go-versoin: ", wantErr: `input "go-versoin" is not defined`},
		{name: "undefined step output", old: "steps.install.outputs.version", new: "steps.instal.outputs.version", wantErr: `property "instal" is not defined`},
		{name: "unknown runner label", old: "runs-on: ubuntu-latest", new: "runs-on: ubuntu-lastest", wantErr: "[runner-label]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			content := shipped
			if tt.old != "" {
				if !bytes.Contains(shipped, []byte(tt.old)) {
					t.Fatalf("%s does not contain %q: update the test", workflowFile, tt.old)
				}
				content = bytes.Replace(shipped, []byte(tt.old), []byte(tt.new), 1)
			}
			errs, out := lintWorkflow(t, content)
			if tt.wantErr == "" {
				if len(errs) > 0 {
					t.Errorf("actionlint found %d problems in %s:\n%s", len(errs), workflowFile, out)
				}
				return
			}
			t.Logf("actionlint on the broken variant:\n%s", out)
			if len(errs) == 0 {
				t.Fatalf("actionlint found nothing, want %q", tt.wantErr)
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Errorf("actionlint output lacks %q:\n%s", tt.wantErr, out)
			}
		})
	}
}

// TestGitHubWorkflowShellcheck proves the run: scripts are shell-checked: an
// unquoted variable in a path is reported.
func TestGitHubWorkflowShellcheck(t *testing.T) {
	t.Parallel()
	if shellcheck(t) == "" {
		t.Skip("needs shellcheck (ci/verify.sh installs it)")
	}
	shipped, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	old := `cp -r "$src" "$RUNNER_TEMP/pvreboot-src"`
	if !bytes.Contains(shipped, []byte(old)) {
		t.Fatalf("%s does not contain %q: update the test", workflowFile, old)
	}
	errs, out := lintWorkflow(t, bytes.Replace(shipped, []byte(old), []byte(`cp -r $src $RUNNER_TEMP/pvreboot-src`), 1))
	t.Logf("actionlint on the broken variant:\n%s", out)
	if len(errs) == 0 || !strings.Contains(out, "[shellcheck]") || !strings.Contains(out, "SC2086") {
		t.Errorf("want shellcheck's SC2086 on an unquoted variable, got %d problems:\n%s", len(errs), out)
	}
}

// checkGitLab returns every way the pipeline misses what the template promises.
func checkGitLab(data []byte) []error {
	var doc struct {
		Stages []string `yaml:"stages"`
		Job    *struct {
			Stage  string   `yaml:"stage"`
			Script []string `yaml:"script"`
			Cache  struct {
				Key   string   `yaml:"key"`
				Paths []string `yaml:"paths"`
			} `yaml:"cache"`
			Artifacts struct {
				When    string   `yaml:"when"`
				Paths   []string `yaml:"paths"`
				Reports struct {
					JUnit string `yaml:"junit"`
				} `yaml:"reports"`
			} `yaml:"artifacts"`
		} `yaml:"pvreboot"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(false)
	if err := dec.Decode(&doc); err != nil {
		return []error{fmt.Errorf("parse: %w", err)}
	}
	if doc.Job == nil {
		return []error{fmt.Errorf("no job pvreboot")}
	}
	j := doc.Job
	var errs []error
	if !contains(doc.Stages, j.Stage) {
		errs = append(errs, fmt.Errorf("pvreboot.stage %q is not in stages %v", j.Stage, doc.Stages))
	}
	if j.Artifacts.When != "always" {
		errs = append(errs, fmt.Errorf("pvreboot.artifacts.when: %q, want always", j.Artifacts.When))
	}
	if !contains(j.Artifacts.Paths, "_artifacts/") {
		errs = append(errs, fmt.Errorf("pvreboot.artifacts.paths: %v, want _artifacts/", j.Artifacts.Paths))
	}
	if j.Artifacts.Reports.JUnit != "_artifacts/run/junit.xml" {
		errs = append(errs, fmt.Errorf("pvreboot.artifacts.reports.junit: %q, want _artifacts/run/junit.xml", j.Artifacts.Reports.JUnit))
	}
	if j.Cache.Key == "" || !contains(j.Cache.Paths, ".pvreboot-images/") {
		errs = append(errs, fmt.Errorf("pvreboot.cache: want a key and the path .pvreboot-images/"))
	}
	script := strings.Join(j.Script, "\n")
	for _, want := range []string{"pvreboot run ", "--output-dir _artifacts/run", "pvreboot report ", "-o markdown", "pvreboot compare ", `exit "$rc"`} {
		if !strings.Contains(script, want) {
			errs = append(errs, fmt.Errorf("pvreboot.script lacks %q", want))
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestGitLabPipeline(t *testing.T) {
	t.Parallel()
	shipped, err := os.ReadFile(gitlabFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		wantErr  string
	}{
		{name: "shipped"},
		{name: "broken YAML", old: "  artifacts:\n", new: "  artifacts:\n - x\n", wantErr: "parse:"},
		{name: "artifacts on success only", old: "    when: always\n    expire_in", new: "    when: on_success\n    expire_in", wantErr: "artifacts.when"},
		{name: "no junit report", old: "junit: _artifacts/run/junit.xml", new: "junit: junit.xml", wantErr: "reports.junit"},
		{name: "job renamed", old: "\npvreboot:\n", new: "\ne2e:\n", wantErr: "no job pvreboot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			content := shipped
			if tt.old != "" {
				if !bytes.Contains(shipped, []byte(tt.old)) {
					t.Fatalf("%s does not contain %q: update the test", gitlabFile, tt.old)
				}
				content = bytes.Replace(shipped, []byte(tt.old), []byte(tt.new), 1)
			}
			errs := checkGitLab(content)
			if tt.wantErr == "" {
				for _, err := range errs {
					t.Error(err)
				}
				return
			}
			var all []string
			for _, err := range errs {
				all = append(all, err.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.wantErr) {
				t.Errorf("errors %q lack %q", all, tt.wantErr)
			}
		})
	}
}

// TestGitLabScriptShellcheck checks the job's script: entries, run in one
// shell as GitLab's shell executor runs them, with shellcheck.
func TestGitLabScriptShellcheck(t *testing.T) {
	t.Parallel()
	sc := shellcheck(t)
	if sc == "" {
		t.Skip("needs shellcheck (ci/verify.sh installs it)")
	}
	data, err := os.ReadFile(gitlabFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Job struct {
			Script []string `yaml:"script"`
		} `yaml:"pvreboot"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	script := "#!/usr/bin/env bash\n" + strings.Join(doc.Job.Script, "\n")
	// SC2154: GitLab's predefined variables (CI_*) and the template's variables: are set by the runner.
	cmd := exec.Command(sc, "--severity=warning", "--exclude=SC2154", "--shell=bash", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck on %s's script: %v\n%s", gitlabFile, err, out)
	}
}
