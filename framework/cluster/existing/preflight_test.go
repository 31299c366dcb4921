package existing

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// fakeAuthorizer answers SelfSubjectAccessReviews: allowed unless denied.
func fakeAuthorizer(deny ...string) *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := r.Spec.ResourceAttributes
		p := Permission{Group: ra.Group, Resource: ra.Resource, Subresource: ra.Subresource, Verb: ra.Verb}
		r.Status.Allowed = !slices.Contains(deny, p.String())
		if !r.Status.Allowed {
			r.Status.Reason = "no RBAC policy matched"
		}
		return true, r, nil
	})
	return c
}

func TestPreflightNamesEveryMissingRight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if err := Preflight(ctx, fakeAuthorizer(), Needed); err != nil {
		t.Fatalf("all allowed: %v", err)
	}
	err := Preflight(ctx, fakeAuthorizer("create pods/exec", "delete persistentvolumes"), Needed)
	if err == nil {
		t.Fatal("no error with two rights missing")
	}
	want := "preflight: missing 2 of " + strconv.Itoa(len(Needed)) + " rights (cluster-wide; deploy/rbac.yaml grants them): " +
		"create pods/exec (no RBAC policy matched), delete persistentvolumes (no RBAC policy matched)"
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
}

// deploy/rbac.yaml grants exactly what Needed lists: nothing missing (a run
// with only those rights would fail) and nothing more (least privilege).
func TestRBACManifestGrantsExactlyNeeded(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind == "ClusterRole" {
			role = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatal("deploy/rbac.yaml has no ClusterRole")
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				for _, v := range r.Verbs {
					granted[Permission{Group: g, Resource: resource, Subresource: sub, Verb: v}.String()] = true
				}
			}
		}
	}
	for _, p := range NeededFor(true, true) {
		if !granted[p.String()] {
			t.Errorf("deploy/rbac.yaml does not grant %s", p)
		}
		delete(granted, p.String())
	}
	for p := range granted {
		t.Errorf("deploy/rbac.yaml grants %s, which pvreboot does not need", p)
	}
}
