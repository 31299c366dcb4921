// Package exec runs external commands as argv slices with a context and keeps
// argv and output in its errors. It is a leaf: it imports only the standard library.
package exec
