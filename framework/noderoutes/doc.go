// Package noderoutes is the pod network of pvreboot's offline kind node images,
// standing in for kindnetd (whose source is not served): it writes a ptp +
// host-local CNI config for the node's podCIDR and keeps a route to every other
// node's podCIDR via that node's InternalIP. Uses client-go and netlink only.
package noderoutes
