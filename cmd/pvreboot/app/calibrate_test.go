package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/report"
)

func TestCalibrateAndRunCalibrationBadInputExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scen := "../../../scenarios/sendfile-after-reboot.yaml"
	noBaseline := filepath.Join(dir, "no-baseline.yaml")
	b, err := os.ReadFile(scen)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "phases: [baseline, after-reboot, after-recreate]", "phases: [after-reboot, after-recreate]", 1)
	var kept []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "baseline") || strings.Contains(l, "phases:") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(noBaseline, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json")
	writeCal := func(path string, c calibrate.Calibration) {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCal(other, calibrate.Calibration{Scenario: "another-scenario", Phase: "baseline", Repeats: 5})
	notCal := filepath.Join(dir, "not.json")
	if err := os.WriteFile(notCal, []byte(`{"schema": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one repeat", []string{"calibrate", "--repeats", "1", scen}, "--repeats 1: want 2 to 50"},
		{"too many repeats", []string{"calibrate", "--repeats", "51", scen}, "--repeats 51: want 2 to 50"},
		{"bad output", []string{"calibrate", "-o", "html", scen}, `-o "html": want text, yaml or json`},
		{"no argument", []string{"calibrate"}, "pvreboot calibrate: want 1 argument (SCENARIO.yaml), got 0"},
		{"missing scenario", []string{"calibrate", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"no baseline", []string{"calibrate", noBaseline}, "spec.phases has no baseline"},
		{"no probe image", []string{"calibrate", "--kubeconfig", filepath.Join(dir, "kc"), scen}, "--probe-image: required"},
		{"run: calibration of another scenario", []string{"run", "--calibration", other, scen}, `--calibration: ` + other + `: a calibration of scenario "another-scenario", not of "sendfile-after-reboot"`},
		{"run: not a calibration", []string{"run", "--calibration", notCal, scen}, "neither calibration.json nor a result with a calibration"},
		{"run: missing calibration", []string{"run", "--calibration", filepath.Join(dir, "none.json"), scen}, "--calibration: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

// A calibration that failed leaves no calibration of an earlier one beside
// its result.
func TestWriteCalibrationRemovesStaleFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &calibrate.Calibration{Scenario: "s", Phase: "baseline", Repeats: 2}
	if err := writeCalibration(dir, &report.Result{Schema: report.Schema}, c); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"calibration.json", "calibration.txt", "budgets.yaml", "result.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
	if err := writeCalibration(dir, &report.Result{Schema: report.Schema}, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"calibration.json", "calibration.txt", "budgets.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s of the earlier calibration is still there", f)
		}
	}
}
