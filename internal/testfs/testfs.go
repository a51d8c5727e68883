// Package testfs lets tests outside the root package (those of the
// nested modules in this repository, such as cluster's simulation) give a
// Log a file system of their own: an in-memory one with crash states,
// or one injecting faults. The root package installs the hook; nothing
// else in the product uses it.
package testfs

import "github.com/commitlog-go/commitlog/internal/vfs"

// SetOptionsFS is set by package commitlog to a function that makes the
// *commitlog.Options it is given (as any, to avoid an import cycle) open
// its Log on fs. It panics on anything but a *commitlog.Options.
var SetOptionsFS func(opts any, fs vfs.FS)
