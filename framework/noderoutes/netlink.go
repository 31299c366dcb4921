package noderoutes

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
)

// NetlinkRouter changes the host's main routing table through netlink.
type NetlinkRouter struct{}

// Replace adds or replaces the route to dst via the gateway.
func (NetlinkRouter) Replace(dst *net.IPNet, via net.IP) error {
	if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: via}); err != nil {
		return fmt.Errorf("netlink route replace %s via %s: %w", dst, via, err)
	}
	return nil
}

// Delete removes the route to dst; a missing route is not an error.
func (NetlinkRouter) Delete(dst *net.IPNet) error {
	if err := netlink.RouteDel(&netlink.Route{Dst: dst}); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("netlink route delete %s: %w", dst, err)
	}
	return nil
}
