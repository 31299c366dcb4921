// Package app is the noderoutes command, the pod network daemon of
// pvreboot's offline kind node images (a stand-in for kindnetd, see
// framework/noderoutes). cmd/noderoutes and cmd/pvreboot (invoked as
// "noderoutes") are its mains.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/pvreboot/pvreboot/framework/noderoutes"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Run writes the CNI config for this node's podCIDR and keeps routes to
// every other node's until ctx ends. The node is getenv("NODE_NAME") (the
// downward API's spec.nodeName); the API server is the in-cluster one. It
// returns 0 when ctx ends, 1 when the daemon fails, 2 for bad arguments.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("noderoutes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conf := fs.String("cni-conf", "/etc/cni/net.d/10-pvreboot.conflist", "where to write the CNI conflist")
	mtu := fs.Int("mtu", 1500, "pod interface MTU")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "noderoutes: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := run(ctx, getenv("NODE_NAME"), noderoutes.Config{CNIConfPath: *conf, MTU: *mtu}, stderr); err != nil {
		fmt.Fprintf(stderr, "noderoutes: %v\n", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, node string, cfg noderoutes.Config, stderr io.Writer) error {
	if node == "" {
		return errors.New("NODE_NAME is not set (use the downward API: spec.nodeName)")
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("node", node)
	cfg.NodeName = node
	d := noderoutes.New(cfg, client, noderoutes.NetlinkRouter{}, log)
	log.Info("watching nodes")
	return d.Run(ctx)
}
