package existing

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/pvreboot/pvreboot/framework/cluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a cluster reached through a kubeconfig.
type Cluster struct {
	name       string
	raw        []byte
	RESTConfig *rest.Config
	Client     kubernetes.Interface
}

// Open loads the kubeconfig files (kubectl's precedence; empty means the
// default ~/.kube/config) and the context (empty: the current one).
func Open(paths []string, contextName string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if len(paths) > 0 {
		rules.Precedence = paths
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %v: %w", paths, err)
	}
	name := contextName
	if name == "" {
		name = raw.CurrentContext
	}
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("kubeconfig %v: no context %q", paths, name)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %v context %q: %w", paths, name, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	b, err := clientcmd.Write(raw)
	if err != nil {
		return nil, err
	}
	return &Cluster{name: name, raw: b, RESTConfig: rc, Client: client}, nil
}

// Name is the context's name.
func (c *Cluster) Name() string { return c.name }

// Kubeconfig returns the loaded kubeconfig.
func (c *Cluster) Kubeconfig(context.Context) ([]byte, error) { return c.raw, nil }

// Nodes lists the cluster's nodes.
func (c *Cluster) Nodes(ctx context.Context) ([]cluster.Node, error) {
	ns, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []cluster.Node
	for _, n := range ns.Items {
		role := "worker"
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			role = "control-plane"
		}
		node := cluster.Node{Name: n.Name, Role: role}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && node.IPv4 == "" {
				node.IPv4 = a.Address
			}
		}
		out = append(out, node)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SelectNodes returns the names given, checked to exist, or the nodes
// matching the labels.
func (c *Cluster) SelectNodes(ctx context.Context, names []string, matchLabels map[string]string) ([]string, error) {
	if len(names) > 0 {
		for _, n := range names {
			if _, err := c.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{}); err != nil {
				return nil, fmt.Errorf("node %s: %w", n, err)
			}
		}
		return names, nil
	}
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: matchLabels})
	ns, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list nodes %s: %w", sel, err)
	}
	var out []string
	for _, n := range ns.Items {
		out = append(out, n.Name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node matches %s", sel)
	}
	sort.Strings(out)
	return out, nil
}

// ErrCredentialPlugin marks a kubeconfig whose user runs a program on this
// host to get credentials (exec plugin, auth provider).
var ErrCredentialPlugin = errors.New("kubeconfig runs a credential program")

// CheckNoCredentialPlugins refuses a kubeconfig whose context's user has an
// exec credential plugin or an auth provider: client-go would run a program
// on this host. For kubeconfigs a scenario names: a scenario must not be
// able to run commands on the test host; the person passes such a
// kubeconfig with --kubeconfig or $KUBECONFIG.
func CheckNoCredentialPlugins(paths []string, contextName string) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.Precedence = paths
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName}).RawConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig %v: %w", paths, err)
	}
	name := contextName
	if name == "" {
		name = raw.CurrentContext
	}
	ctx, ok := raw.Contexts[name]
	if !ok {
		return fmt.Errorf("kubeconfig %v: no context %q", paths, name)
	}
	if u, ok := raw.AuthInfos[ctx.AuthInfo]; ok && (u.Exec != nil || u.AuthProvider != nil) {
		what := "an auth provider"
		if u.Exec != nil {
			what = fmt.Sprintf("the exec plugin %q", u.Exec.Command)
		}
		return fmt.Errorf("%w: user %q of context %q uses %s", ErrCredentialPlugin, ctx.AuthInfo, name, what)
	}
	return nil
}
