package ledger

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Kinds of items.
const (
	KindNamespace       = "namespace"
	KindPV              = "pv"
	KindStorageClass    = "storageclass"
	KindHelperNamespace = "helper-namespace"
	// KindBacking is a volume's node side: unit, mount, loop, image, dir,
	// kubelet loops. Its Name is the PV name and Node is required.
	KindBacking = "backing"
	// KindCordon is a node the run cordoned (Name is the node): a run that
	// dies must not leave it unschedulable.
	KindCordon = "cordon"
	// KindFault is what an injected fault changed on a node beyond the pod
	// and the volume's own units (a boot unit, a device setting). Its Name
	// names the change, Node is required, and Detail holds the fault's type
	// (DetailFault) and what undoing it needs.
	KindFault = "fault"
	// KindReboot is a node the run is rebooting (Name and Node are the
	// node), recorded before the reboot is issued and forgotten once the
	// node is back: a run that dies half way must not leave it down.
	// Detail holds the method (DetailMethod) and the rebooter's journal.
	KindReboot = "reboot"
)

// Kinds returns the kinds an Item may have, in a fresh slice.
func Kinds() []string {
	return []string{KindNamespace, KindPV, KindStorageClass, KindHelperNamespace, KindBacking, KindCordon, KindFault, KindReboot}
}

// Keys of Item.Detail that pvreboot writes for a backing. Path, Image and
// Root must be clean absolute paths of plain names, and when Root is given,
// Path and Image must lie under it.
const (
	DetailBacking      = "backing" // directory, filesystem or block
	DetailPath         = "path"    // local.path: mount point, directory or device symlink
	DetailImage        = "image"   // the image file
	DetailUnit         = "unit"    // the systemd mount unit or loop service
	DetailRoot         = "root"    // the directory the backing lives under, e.g. /mnt/pvreboot
	DetailKubeletLoops = "kubeletLoops"
	DetailFault        = "fault"  // a fault item's fault type
	DetailMethod       = "method" // a reboot item's reboot method
)

// Limits on what one ledger holds. The items are one Lease annotation, and
// annotations share 256KiB in all.
const (
	MaxItems          = 200
	maxDetailKeys     = 16
	maxDetailValueLen = 4096
	maxMetaLen        = 253       // Cluster, Scenario, Holder
	maxLedgerBytes    = 200 << 10 // the encoded items
)

// ErrInvalid marks what cannot be a pvreboot ledger: a run ID, item or record
// that pvreboot never writes, whoever wrote it.
var ErrInvalid = errors.New("not a pvreboot ledger")

var (
	runRE       = regexp.MustCompile(`^[0-9a-f]{1,8}$`)
	detailKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)
	// plainPathRE: an absolute path whose components are plain names (no
	// "." or ".." and no hidden names).
	plainPathRE = regexp.MustCompile(`^(/[A-Za-z0-9_][A-Za-z0-9_.@:+-]*)+$`)
)

// Item is one thing a run made.
type Item struct {
	Kind   string            `json:"kind"`
	Name   string            `json:"name"`             // object name, or for a backing the PV name
	Node   string            `json:"node,omitempty"`   // node-side items
	Detail map[string]string `json:"detail,omitempty"` // e.g. backing: path, image, unit, backing type, root, kubelet loops
}

// key identifies an item: one with the same Kind, Name and Node replaces it.
type key struct{ kind, name, node string }

func (i Item) key() key { return key{i.Kind, i.Name, i.Node} }

func (i Item) clone() Item {
	i.Detail = maps.Clone(i.Detail)
	return i
}

// String says what the item is, e.g. "namespace pvreboot-1a2b" or
// "backing pvreboot-1a2b-data (filesystem /mnt/pvreboot/pvreboot-1a2b-data,
// unit ..., image ...) on node kind-worker".
func (i Item) String() string {
	var b strings.Builder
	b.WriteString(i.Kind)
	b.WriteString(" ")
	b.WriteString(i.Name)
	if len(i.Detail) > 0 {
		var parts []string
		head := strings.TrimSpace(i.Detail[DetailBacking] + " " + i.Detail[DetailPath])
		if head != "" {
			parts = append(parts, head)
		}
		named := []struct{ key, label string }{
			{DetailUnit, "unit"}, {DetailImage, "image"}, {DetailRoot, "root"}, {DetailKubeletLoops, "kubelet loops"},
		}
		for _, n := range named {
			if v := i.Detail[n.key]; v != "" {
				parts = append(parts, n.label+" "+v)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(i.Detail)) {
			switch k {
			case DetailBacking, DetailPath, DetailUnit, DetailImage, DetailRoot, DetailKubeletLoops:
				continue
			}
			parts = append(parts, k+" "+i.Detail[k])
		}
		if len(parts) > 0 {
			b.WriteString(" (" + strings.Join(parts, ", ") + ")")
		}
	}
	if i.Node != "" {
		b.WriteString(" on node ")
		b.WriteString(i.Node)
	}
	return b.String()
}

// Validate refuses an item pvreboot cannot have made: an unknown kind, a name
// or node that is not a DNS-1123 name, a backing without its node, a Detail
// value with control characters, or a path that is not a plain absolute path
// under the backing's root. The error wraps ErrInvalid.
func (i Item) Validate() error {
	var errs []error
	switch i.Kind {
	case KindNamespace, KindHelperNamespace:
		if msgs := validation.IsDNS1123Label(i.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("name %q: not a DNS-1123 label (%s)", i.Name, msgs[0]))
		}
	case KindPV, KindStorageClass, KindBacking, KindCordon, KindFault, KindReboot:
		if msgs := validation.IsDNS1123Subdomain(i.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("name %q: not a DNS-1123 subdomain (%s)", i.Name, msgs[0]))
		}
	default:
		errs = append(errs, fmt.Errorf("kind %q: want one of %s", i.Kind, strings.Join(Kinds(), ", ")))
	}
	if i.Node != "" {
		if msgs := validation.IsDNS1123Subdomain(i.Node); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("node %q: not a DNS-1123 subdomain (%s)", i.Node, msgs[0]))
		}
	} else if i.Kind == KindBacking || i.Kind == KindFault || i.Kind == KindReboot {
		errs = append(errs, fmt.Errorf("a %s needs its node", i.Kind))
	}
	if i.Kind == KindFault && i.Detail[DetailFault] == "" {
		errs = append(errs, errors.New("a fault needs its type (detail fault)"))
	}
	if i.Kind == KindReboot && (i.Node != i.Name || i.Detail[DetailMethod] == "") {
		errs = append(errs, errors.New("a reboot names its node twice (name and node) and its method (detail method)"))
	}
	if len(i.Detail) > maxDetailKeys {
		errs = append(errs, fmt.Errorf("detail: %d keys, want at most %d", len(i.Detail), maxDetailKeys))
	}
	for _, k := range slices.Sorted(maps.Keys(i.Detail)) {
		v := i.Detail[k]
		if !detailKeyRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("detail key %q: want a letter then letters, digits and _.- (at most 63)", k))
			continue
		}
		if err := plainText(v, maxDetailValueLen); err != nil {
			errs = append(errs, fmt.Errorf("detail %s %q: %w", k, v, err))
			continue
		}
		switch k {
		case DetailPath, DetailImage, DetailRoot:
			if v != "" && (!plainPathRE.MatchString(v) || path.Clean(v) != v) {
				errs = append(errs, fmt.Errorf("detail %s %q: want a clean absolute path of plain names", k, v))
			}
		}
	}
	if root := i.Detail[DetailRoot]; root != "" && plainPathRE.MatchString(root) {
		for _, k := range []string{DetailPath, DetailImage} {
			if v := i.Detail[k]; v != "" && !strings.HasPrefix(v, root+"/") {
				errs = append(errs, fmt.Errorf("detail %s %q: not under root %q", k, v, root))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: item %s %q: %w", ErrInvalid, i.Kind, i.Name, errors.Join(errs...))
	}
	return nil
}

// plainText refuses invalid UTF-8, control characters and more than max bytes.
func plainText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, want at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return errors.New("contains control characters")
	}
	return nil
}

func checkRun(run string) error {
	if !runRE.MatchString(run) {
		return fmt.Errorf("%w: run ID %q: want 1-8 lowercase hex digits", ErrInvalid, run)
	}
	return nil
}

// Record is everything known about one run: who runs it, its heartbeat and
// what it made.
type Record struct {
	Run      string `json:"run"`
	Cluster  string `json:"cluster,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	// Holder is "host:pid" of the process that runs it.
	Holder string `json:"holder,omitempty"`
	// Started is when the run opened its ledger; Renewed its last
	// heartbeat. In a local copy, Renewed is the last renewal known when
	// the copy was written.
	Started      time.Time `json:"started"`
	Renewed      time.Time `json:"renewed"`
	LeaseSeconds int32     `json:"leaseSeconds"`
	Items        []Item    `json:"items"`
}

// Live reports whether the run's heartbeat is current at now: Renewed +
// LeaseSeconds is after now.
func (r Record) Live(now time.Time) bool {
	return r.Renewed.Add(time.Duration(r.LeaseSeconds) * time.Second).After(now)
}

func (r Record) clone() Record {
	r.Items = cloneItems(r.Items)
	return r
}

func cloneItems(items []Item) []Item {
	out := make([]Item, len(items))
	for n, i := range items {
		out[n] = i.clone()
	}
	return out
}

// validate refuses a record pvreboot cannot have written.
func (r Record) validate() error {
	var errs []error
	if err := checkRun(r.Run); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct{ name, v string }{{"cluster", r.Cluster}, {"scenario", r.Scenario}, {"holder", r.Holder}} {
		if err := plainText(f.v, maxMetaLen); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s %q: %w", ErrInvalid, f.name, f.v, err))
		}
	}
	if r.LeaseSeconds <= 0 {
		errs = append(errs, fmt.Errorf("%w: lease of %ds, want at least 1s", ErrInvalid, r.LeaseSeconds))
	}
	if len(r.Items) > MaxItems {
		errs = append(errs, fmt.Errorf("%w: %d items, want at most %d", ErrInvalid, len(r.Items), MaxItems))
	}
	for _, i := range r.Items {
		if err := i.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// merge returns items with each of add put in place of the item with its key,
// or appended.
func merge(items []Item, add ...Item) []Item {
	out := cloneItems(items)
	for _, a := range add {
		if n := slices.IndexFunc(out, func(i Item) bool { return i.key() == a.key() }); n >= 0 {
			out[n] = a.clone()
		} else {
			out = append(out, a.clone())
		}
	}
	return out
}
