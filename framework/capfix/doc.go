// Package capfix removes from OCI runtime specs the capabilities that the
// host's capability bounding set cannot grant, so that privileged containers
// (kind nodes) start on hosts and CI runners with a reduced bounding set.
// It imports only the standard library.
package capfix
