package app

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestRunRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name     string
		args     []string
		nodeName string
		want     int
		says     string
	}{
		{name: "help", args: []string{"-h"}, want: 0, says: "-cni-conf"},
		{name: "unknown flag", args: []string{"--nope"}, want: 2, says: "flag provided but not defined: -nope"},
		{name: "bad mtu", args: []string{"--mtu", "big"}, want: 2, says: "-mtu"},
		{name: "argument", args: []string{"node-a"}, want: 2, says: `unexpected arguments ["node-a"]`},
		{name: "no node name", want: 1, says: "noderoutes: NODE_NAME is not set (use the downward API: spec.nodeName)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			getenv := func(k string) string {
				if k == "NODE_NAME" {
					return tt.nodeName
				}
				return ""
			}
			if code := Run(ctx, tt.args, getenv, &stderr); code != tt.want || !strings.Contains(stderr.String(), tt.says) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, stderr.String(), tt.want, tt.says)
			}
		})
	}
}

func TestRunOutsideAClusterFails(t *testing.T) {
	t.Parallel()
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		t.Skip("runs in a pod: the in-cluster config exists")
	}
	var stderr bytes.Buffer
	getenv := func(string) string { return "node-a" }
	if code := Run(context.Background(), nil, getenv, &stderr); code != 1 || !strings.Contains(stderr.String(), "noderoutes: in-cluster config:") {
		t.Errorf("exit %d, stderr %q; want exit 1 saying there is no in-cluster config", code, stderr.String())
	}
}
