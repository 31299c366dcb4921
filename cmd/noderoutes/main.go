// Command noderoutes is the pod network daemon of pvreboot's offline kind node
// images (a stand-in for kindnetd): a CNI config for this node's podCIDR and
// routes to every other node's podCIDR.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pvreboot/pvreboot/framework/noderoutes"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "noderoutes: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	fs := flag.NewFlagSet("noderoutes", flag.ContinueOnError)
	conf := fs.String("cni-conf", "/etc/cni/net.d/10-pvreboot.conflist", "where to write the CNI conflist")
	mtu := fs.Int("mtu", 1500, "pod interface MTU")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	node := os.Getenv("NODE_NAME")
	if node == "" {
		return fmt.Errorf("NODE_NAME is not set (use the downward API: spec.nodeName)")
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", node)
	d := noderoutes.New(noderoutes.Config{NodeName: node, CNIConfPath: *conf, MTU: *mtu}, client, noderoutes.NetlinkRouter{}, log)
	log.Info("watching nodes")
	return d.Run(ctx)
}
