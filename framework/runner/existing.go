package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/nodeexec"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ExistingSetup says how to reach a cluster pvreboot did not create.
type ExistingSetup struct {
	Kubeconfig     []string // files in kubectl's precedence; empty: ~/.kube/config
	Context        string
	ProbeImage     string
	SSHAgentSocket string
	Log            *slog.Logger
	Progress       io.Writer
}

// Existing opens a cluster from a kubeconfig; it never creates or deletes
// it. Node commands run through privileged helper pods; the probe image is
// loaded into kind nodes (providerID kind://) and must be pullable elsewhere.
func Existing(ctx context.Context, s *scenario.Scenario, es ExistingSetup) (Config, error) {
	c, err := existing.Open(es.Kubeconfig, es.Context)
	if err != nil {
		return Config{}, err
	}
	if err := existing.Preflight(ctx, c.Client, existing.NeededFor(s.Spec.Reboot.Cordon, s.Spec.Reboot.Drain)); err != nil {
		return Config{}, fmt.Errorf("cluster %s: %w", c.Name(), err)
	}
	var sel map[string]string
	if s.Spec.Cluster.Nodes.Selector != nil {
		sel = s.Spec.Cluster.Nodes.Selector.MatchLabels
	}
	names, err := c.SelectNodes(ctx, s.Spec.Cluster.Nodes.Names, sel)
	if err != nil {
		return Config{}, err
	}
	s.Spec.Cluster.Nodes = scenario.NodeSelection{Names: names[:1]}
	kindCluster, err := LoadProbeOnKindNode(ctx, c.Client, names[0], es.ProbeImage, es.Log, es.Progress)
	if err != nil {
		return Config{}, err
	}
	pe, closeFn, err := NodeHelpers(ctx, c.Client, c.RESTConfig, es.ProbeImage)
	if err != nil {
		return Config{}, err
	}
	var rb Rebooter
	switch m := s.Spec.Reboot.Method; m {
	case scenario.RebootKindRestart, scenario.RebootKindKill:
		if kindCluster == "" {
			rb = unavailable{method: m + " (node " + names[0] + " is not a kind node)"}
		} else {
			rb = reboot.KindContainer{Cluster: kindCluster, Kill: m == scenario.RebootKindKill, Down: s.Spec.Reboot.Down.Duration, Log: es.Log}
		}
	case scenario.RebootCommand:
		rb = reboot.Command{Argv: s.Spec.Reboot.Command.Argv, Lookup: nodeLookup(c.Client)}
	case scenario.RebootSSH:
		rb = sshRebooter(s, es.SSHAgentSocket, c.Client, es.Log)
	case scenario.RebootNodePod:
		mode := ""
		if s.Spec.Reboot.NodePod != nil {
			mode = s.Spec.Reboot.NodePod.Mode
		}
		rb = reboot.NodePod{Exec: pe, Mode: mode}
	default:
		rb = unavailable{method: m}
	}
	return Config{Scenario: s, Client: c.Client, RESTConfig: c.RESTConfig, Nodes: pe, Rebooter: rb, ProbeImage: es.ProbeImage,
		ClusterName: c.Name(), Provider: "existing", Log: es.Log, Progress: es.Progress, Close: closeFn, HelperNamespace: pe.Namespace}, nil
}

// LoadProbeOnKindNode loads the probe image into node when it is a kind node
// (providerID kind://docker/CLUSTER/...) of a cluster on this host's
// engine, where no registry may serve it, and returns the kind cluster's
// name; other nodes pull it, and get "".
func LoadProbeOnKindNode(ctx context.Context, c kubernetes.Interface, node, image string, log *slog.Logger, progress io.Writer) (string, error) {
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(n.Spec.ProviderID, "kind://docker/")
	if !ok {
		return "", nil
	}
	cluster := strings.Split(rest, "/")[0]
	kc, err := kindprovider.New(log, progress).Get(ctx, cluster)
	if err != nil {
		return "", fmt.Errorf("node %s is a kind node of cluster %s: %w", node, cluster, err)
	}
	if err := kc.LoadImage(ctx, image, node); err != nil {
		return "", err
	}
	return cluster, nil
}

// ExistingForPlan opens a cluster from a kubeconfig for --dry-run and
// narrows the scenario to the node a run would reboot: it only reads (no
// helper namespace, no image load, no preflight).
func ExistingForPlan(ctx context.Context, s *scenario.Scenario, es ExistingSetup) (kubernetes.Interface, error) {
	c, err := existing.Open(es.Kubeconfig, es.Context)
	if err != nil {
		return nil, err
	}
	var sel map[string]string
	if s.Spec.Cluster.Nodes.Selector != nil {
		sel = s.Spec.Cluster.Nodes.Selector.MatchLabels
	}
	names, err := c.SelectNodes(ctx, s.Spec.Cluster.Nodes.Names, sel)
	if err != nil {
		return nil, err
	}
	s.Spec.Cluster.Nodes = scenario.NodeSelection{Names: names[:1]}
	return c.Client, nil
}

// NodeHelpers makes a namespace for privileged node helper pods (made on
// first use per node) that run commands on nodes of a cluster pvreboot did
// not create; the returned func deletes them and the namespace.
func NodeHelpers(ctx context.Context, client kubernetes.Interface, rc *rest.Config, probeImage string) (*nodeexec.PodExec, func(context.Context) error, error) {
	nsName := "pvreboot-nodeexec-" + fmt.Sprintf("%x", metav1.Now().UnixNano()&0xffffff)
	// Privileged hostPID pods: the namespace says so to Pod Security
	// Admission, which otherwise refuses them where a baseline or restricted
	// level is enforced by default.
	labels := map[string]string{localpv.LabelOwned: "true"}
	for _, mode := range []string{"enforce", "audit", "warn"} {
		labels["pod-security.kubernetes.io/"+mode] = "privileged"
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: nsName, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		return nil, nil, fmt.Errorf("create namespace %s: %w", nsName, err)
	}
	if err := namespaceReady(ctx, client, nsName); err != nil {
		_ = client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), nsName, metav1.DeleteOptions{})
		return nil, nil, err
	}
	pe := &nodeexec.PodExec{Client: client, RESTConfig: rc, Namespace: nsName, Image: probeImage}
	closeFn := func(ctx context.Context) error {
		err := pe.Close(ctx)
		if derr := client.CoreV1().Namespaces().Delete(ctx, nsName, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			err = errors.Join(err, derr)
		} else {
			err = errors.Join(err, wait.NamespaceGone(ctx, client, nsName))
		}
		return err
	}
	return pe, closeFn, nil
}
