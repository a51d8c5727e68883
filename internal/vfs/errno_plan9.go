package vfs

import "syscall"

// Errors MemFS returns that Plan 9's syscall package does not define.
var (
	errNotEmpty   error = syscall.NewError("directory not empty")
	errBadFd      error = syscall.NewError("bad file descriptor")
	errFileTooBig error = syscall.NewError("file too large")
	errQuota      error // Plan 9 has no disk quotas
)
