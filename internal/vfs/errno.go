//go:build !plan9

package vfs

import "syscall"

// Errors MemFS returns that not every platform's syscall package defines.
var (
	errNotEmpty   error = syscall.ENOTEMPTY
	errBadFd      error = syscall.EBADF
	errFileTooBig error = syscall.EFBIG
	errQuota      error = syscall.EDQUOT
)
