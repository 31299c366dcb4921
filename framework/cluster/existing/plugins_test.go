package existing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckNoCredentialPlugins(t *testing.T) {
	t.Parallel()
	const head = `apiVersion: v1
kind: Config
current-context: lab
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
contexts: [{name: lab, context: {cluster: c, user: u}}]
`
	for name, tc := range map[string]struct {
		users string
		bad   bool
	}{
		"token":         {`users: [{name: u, user: {token: abc}}]`, false},
		"exec plugin":   {`users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/touch, args: [/tmp/pwned]}}}]`, true},
		"auth provider": {`users: [{name: u, user: {auth-provider: {name: oidc}}}]`, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(p, []byte(head+tc.users+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := CheckNoCredentialPlugins([]string{p}, "")
			if got := errors.Is(err, ErrCredentialPlugin); got != tc.bad {
				t.Errorf("CheckNoCredentialPlugins = %v, want refused=%v", err, tc.bad)
			}
		})
	}
}
