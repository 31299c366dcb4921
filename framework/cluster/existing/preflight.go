package existing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is one thing a run must be allowed to do, cluster-wide (the run
// makes its own namespaces, so namespaced rights are needed in all of them).
type Permission struct {
	Group       string
	Resource    string
	Subresource string
	Verb        string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	if p.Group != "" {
		r += "." + p.Group
	}
	return p.Verb + " " + r
}

// Needed is what a run needs on a cluster it did not create; deploy/rbac.yaml
// grants exactly this plus NeededToCordon and NeededToDrain (a unit test
// keeps them in step).
var Needed = func() []Permission {
	var out []Permission
	add := func(group, resource, sub string, verbs ...string) {
		for _, v := range verbs {
			out = append(out, Permission{Group: group, Resource: resource, Subresource: sub, Verb: v})
		}
	}
	add("", "nodes", "", "get", "list", "watch")
	add("", "namespaces", "", "get", "list", "watch", "create", "delete")
	add("", "serviceaccounts", "", "get", "list", "watch")
	add("", "pods", "", "get", "list", "watch", "create", "delete")
	add("", "pods", "exec", "create", "get")
	add("", "persistentvolumes", "", "get", "list", "watch", "create", "delete")
	add("", "persistentvolumeclaims", "", "get", "list", "watch", "create", "delete")
	add("storage.k8s.io", "storageclasses", "", "get", "list", "create", "delete")
	// The run's ledger and heartbeat (a Lease in pvreboot-runs).
	add("coordination.k8s.io", "leases", "", "get", "list", "create", "update", "patch", "delete")
	return out
}()

// NeededToCordon and NeededToDrain are what spec.reboot.cordon and
// spec.reboot.drain need on top of Needed.
var (
	NeededToCordon = []Permission{{Resource: "nodes", Verb: "patch"}}
	NeededToDrain  = []Permission{{Resource: "pods", Subresource: "eviction", Verb: "create"}}
)

// NeededFor is what a run needs with the reboot's cordon and drain settings.
func NeededFor(cordon, drain bool) []Permission {
	out := append([]Permission{}, Needed...)
	if cordon || drain {
		out = append(out, NeededToCordon...)
	}
	if drain {
		out = append(out, NeededToDrain...)
	}
	return out
}

// Preflight asks the API server, as `kubectl auth can-i` does (a
// SelfSubjectAccessReview each), whether the kubeconfig's identity may do
// every one of perms, and returns one error naming all that are denied.
func Preflight(ctx context.Context, c kubernetes.Interface, perms []Permission) error {
	var denied []string
	var errs []error
	for _, p := range perms {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("can-i %s: %w", p, err))
			continue
		}
		if !r.Status.Allowed {
			d := p.String()
			if r.Status.Reason != "" {
				d += " (" + r.Status.Reason + ")"
			}
			denied = append(denied, d)
		}
	}
	if len(denied) > 0 {
		errs = append(errs, fmt.Errorf("missing %d of %d rights (cluster-wide; deploy/rbac.yaml grants them): %s",
			len(denied), len(perms), strings.Join(denied, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	return nil
}
