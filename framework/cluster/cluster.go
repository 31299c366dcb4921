package cluster

import "context"

// Node is one node as its provider sees it.
type Node struct {
	Name string `json:"name"`
	Role string `json:"role"` // control-plane or worker
	// ContainerID is the node container's ID for container-backed nodes (kind).
	ContainerID string `json:"containerID,omitempty"`
	IPv4        string `json:"ipv4,omitempty"`
	IPv6        string `json:"ipv6,omitempty"`
}

// Cluster is a cluster pvreboot can reach.
type Cluster interface {
	// Name of the cluster.
	Name() string
	// Kubeconfig returns a kubeconfig that reaches the cluster from this host.
	Kubeconfig(ctx context.Context) ([]byte, error)
	// Nodes lists the cluster's nodes.
	Nodes(ctx context.Context) ([]Node, error)
}

// LogExporter is the optional ability to export a cluster's logs.
type LogExporter interface {
	ExportLogs(ctx context.Context, dir string) error
}
