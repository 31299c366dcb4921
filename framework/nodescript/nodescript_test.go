package nodescript

import (
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"
)

// Values reach the script as positional parameters, never as its text: a
// value that is shell text stays a word.
func TestArgvKeepsValuesOutOfTheScript(t *testing.T) {
	t.Parallel()
	s := New(fstest.MapFS{"scripts/echo.sh": {Data: []byte("printf '%s|' \"$0\" \"$@\"\n")}})
	hostile := "$(echo pwned); `id`"
	argv := s.Argv("echo", hostile, "b")
	if strings.Contains(argv[2], hostile) {
		t.Fatalf("the value is in the script text: %q", argv)
	}
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "echo|"+hostile+"|b|"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	missing := s.Argv("nope")
	if err := exec.Command(missing[0], missing[1:]...).Run(); err == nil || !strings.Contains(missing[2], "exit 70") {
		t.Errorf("a missing script runs: %v %q", err, missing[2])
	}
}
