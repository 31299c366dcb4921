package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// mountOption is an option a scenario may give: its name, and the form of
// its value ("" for a flag that takes none).
type mountOption struct {
	name  string
	value string // a regular expression, anchored; "" for none
}

var (
	num  = `[0-9]{1,9}`
	size = `[0-9]{1,9}[kKmMgG]?`
)

// mountOptions returns the options allowed for a filesystem type: what
// changes how the filesystem caches, syncs, journals and allocates - the
// things a storage qualification compares - and nothing that reaches
// outside the filesystem (no helpers, loop or bind setups, device or setuid
// files, x-systemd.* ordering, SELinux contexts).
func mountOptions(fsType string) []mountOption {
	common := []mountOption{
		{"noatime", ""}, {"nodiratime", ""}, {"relatime", ""}, {"strictatime", ""}, {"lazytime", ""}, {"nolazytime", ""},
		{"sync", ""}, {"async", ""}, {"dirsync", ""}, {"rw", ""}, {"ro", ""},
		{"nosuid", ""}, {"nodev", ""}, {"noexec", ""}, {"exec", ""}, {"iversion", ""}, {"noiversion", ""},
	}
	switch fsType {
	case "ext4":
		return append(common, []mountOption{
			{"discard", ""}, {"nodiscard", ""}, {"barrier", ""}, {"nobarrier", ""}, {"barrier", `[01]`},
			{"data", `ordered|writeback|journal`}, {"commit", num}, {"errors", `continue|remount-ro|panic`},
			{"journal_checksum", ""}, {"nojournal_checksum", ""}, {"journal_async_commit", ""},
			{"delalloc", ""}, {"nodelalloc", ""}, {"dioread_nolock", ""}, {"dioread_lock", ""},
			{"auto_da_alloc", ""}, {"noauto_da_alloc", ""}, {"nombcache", ""}, {"init_itable", ""}, {"noinit_itable", ""},
			{"max_batch_time", num}, {"min_batch_time", num}, {"stripe", num}, {"inode_readahead_blks", num},
		}...)
	case "xfs":
		return append(common, []mountOption{
			{"discard", ""}, {"nodiscard", ""}, {"logbsize", size}, {"logbufs", num}, {"allocsize", size},
			{"largeio", ""}, {"nolargeio", ""}, {"inode64", ""}, {"inode32", ""}, {"noalign", ""}, {"swalloc", ""}, {"wsync", ""},
			{"attr2", ""}, {"noattr2", ""},
		}...)
	case "btrfs":
		return append(common, []mountOption{
			{"discard", ""}, {"discard", `sync|async`}, {"nodiscard", ""}, {"commit", num},
			{"compress", `zlib|lzo|zstd|no|none|zlib:[1-9]|zstd:(1[0-5]|[1-9])`}, {"compress-force", `zlib|lzo|zstd|zlib:[1-9]|zstd:(1[0-5]|[1-9])`},
			{"space_cache", ""}, {"space_cache", `v1|v2`}, {"nospace_cache", ""}, {"ssd", ""}, {"nossd", ""}, {"ssd_spread", ""},
			{"autodefrag", ""}, {"noautodefrag", ""}, {"datacow", ""}, {"nodatacow", ""}, {"datasum", ""}, {"nodatasum", ""},
			{"flushoncommit", ""}, {"noflushoncommit", ""}, {"thread_pool", num},
		}...)
	}
	return nil
}

// CheckMountOption says why an option is not one a scenario may give for
// fsType, or returns nil. The node layer checks the same list.
func CheckMountOption(fsType, opt string) error {
	if strings.Contains(opt, ",") {
		return fmt.Errorf("%q: one option per list item (write them as separate items)", opt)
	}
	name, value, hasValue := strings.Cut(opt, "=")
	allowed := mountOptions(fsType)
	for _, o := range allowed {
		if o.name != name {
			continue
		}
		if o.value == "" && !hasValue {
			return nil
		}
		if o.value != "" && hasValue && regexp.MustCompile(`^(`+o.value+`)$`).MatchString(value) {
			return nil
		}
	}
	var names []string
	for _, o := range allowed {
		n := o.name
		if o.value != "" {
			n += "=" + o.value
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%q: no mount options for filesystem type %q", opt, fsType)
	}
	return fmt.Errorf("%q is not a %s mount option pvreboot allows (allowed: %s)", opt, fsType, strings.Join(names, ", "))
}
