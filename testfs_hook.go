package commitlog

import (
	"fmt"

	"github.com/commitlog-go/commitlog/internal/testfs"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

// The hook of internal/testfs: tests of the nested modules open Logs on
// file systems of their own.
func init() {
	testfs.SetOptionsFS = func(opts any, fs vfs.FS) {
		o, ok := opts.(*Options)
		if !ok {
			panic(fmt.Sprintf("testfs.SetOptionsFS: a %T, not a *commitlog.Options", opts))
		}
		o.fs = fs
	}
}
