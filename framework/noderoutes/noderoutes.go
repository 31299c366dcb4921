package noderoutes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
)

// Router applies a route to a pod CIDR via a node IP, and removes one.
type Router interface {
	Replace(dst *net.IPNet, via net.IP) error
	Delete(dst *net.IPNet) error
}

// Config of the daemon.
type Config struct {
	NodeName string
	// CNIConfPath is where the conflist is written, e.g.
	// /etc/cni/net.d/10-pvreboot.conflist.
	CNIConfPath string
	MTU         int
}

// Daemon keeps the node's CNI config and routes to other nodes' pod CIDRs.
type Daemon struct {
	cfg    Config
	client kubernetes.Interface
	router Router
	log    *slog.Logger
	routes map[string]string // podCIDR -> via, as applied
}

// New returns a daemon; log nil means silent.
func New(cfg Config, client kubernetes.Interface, router Router, log *slog.Logger) *Daemon {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	return &Daemon{cfg: cfg, client: client, router: router, log: log, routes: map[string]string{}}
}

// Run watches nodes until ctx ends.
func (d *Daemon) Run(ctx context.Context) error {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return d.client.CoreV1().Nodes().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return d.client.CoreV1().Nodes().Watch(ctx, o)
		},
	}
	nodes := map[string]*corev1.Node{}
	_, err := toolswatch.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(nodes, n.Name)
		} else {
			nodes[n.Name] = n
		}
		if err := d.Sync(nodes); err != nil {
			d.log.Error("sync", "err", err)
		}
		return false, nil
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return nil
	}
	return err
}

// Sync makes the CNI config and routes match the given nodes.
func (d *Daemon) Sync(nodes map[string]*corev1.Node) error {
	var errs []error
	want := map[string]string{}
	for name, n := range nodes {
		cidr := n.Spec.PodCIDR
		if cidr == "" {
			continue
		}
		if name == d.cfg.NodeName {
			if err := d.writeCNIConfig(cidr); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		ip := InternalIP(n)
		if ip == "" {
			continue
		}
		want[cidr] = ip
	}
	for cidr, via := range want {
		if d.routes[cidr] == via {
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil {
			errs = append(errs, fmt.Errorf("node podCIDR %q: %w", cidr, err))
			continue
		}
		if err := d.router.Replace(dst, net.ParseIP(via)); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", cidr, via, err))
			continue
		}
		d.log.Info("route", "dst", cidr, "via", via)
		d.routes[cidr] = via
	}
	for cidr := range d.routes {
		if _, ok := want[cidr]; ok {
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err == nil {
			err = d.router.Delete(dst)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove route %s: %w", cidr, err))
			continue
		}
		d.log.Info("route removed", "dst", cidr)
		delete(d.routes, cidr)
	}
	return errors.Join(errs...)
}

// InternalIP returns a node's first IPv4 InternalIP, or "".
func InternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
				return a.Address
			}
		}
	}
	return ""
}

// CNIConfig renders the conflist for a pod CIDR: ptp with host-local IPAM
// (as kindnetd does) and portmap.
func CNIConfig(podCIDR string, mtu int) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "pvreboot",
		"plugins": []any{
			map[string]any{
				"type": "ptp", "ipMasq": false, "mtu": mtu,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func (d *Daemon) writeCNIConfig(podCIDR string) error {
	b, err := CNIConfig(podCIDR, d.cfg.MTU)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(d.cfg.CNIConfPath); err == nil && string(old) == string(b) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(d.cfg.CNIConfPath), 0o755); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	tmp := d.cfg.CNIConfPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Rename(tmp, d.cfg.CNIConfPath); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	d.log.Info("CNI config written", "path", d.cfg.CNIConfPath, "podCIDR", podCIDR)
	return nil
}
