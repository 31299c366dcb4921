// Package cluster is the vocabulary of clusters pvreboot runs on: nodes and
// the small interfaces providers implement. It is a leaf: standard library only.
package cluster
