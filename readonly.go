package commitlog

// A Log opened with Options.ReadOnly writes nothing to its directory: Open
// wraps its file system in vfs.ReadOnly and opens every partition
// read-only (see internal/storage's readonly.go for what recovery keeps in
// memory), starts none of the background work that writes (checkpoints,
// retention, compaction, age-based rolls), and every call that would write
// fails with a *ReadOnlyError from refuseReadOnly.

// refuseReadOnly returns a *ReadOnlyError for op on a read-only Log, and
// nil on a writable one.
func (l *Log) refuseReadOnly(op string) error {
	if !l.opts.ReadOnly {
		return nil
	}
	return &ReadOnlyError{Op: op}
}
