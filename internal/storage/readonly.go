package storage

import (
	"errors"
	"fmt"
	"strings"
)

// Read-only partitions (Config.ReadOnly). A read-only PartitionLog writes
// nothing to its directory, ever: its files are opened for reading (the
// owner also hands it a vfs.ReadOnly file system, so a write path missed
// here fails instead of writing), its data mapped read-only, and every
// call that would change the partition fails with a *ReadOnlyError.
//
// Recovery (recovery.go) runs as for a writable partition, deciding the
// same things, but keeps what it would write in memory:
//
//   - a torn tail is cut by shortening the segment in memory (readers stop
//     there), and the segments after it are left out;
//   - indexes are loaded into memory (sealed ones are mapped read-only),
//     and an index that recovery or Check would rebuild is rebuilt in
//     memory;
//   - leftovers of interrupted work that recovery would remove (temporary
//     files, orphaned index files, segments below the log start offset,
//     the files of a compaction swap that never reached its commit point,
//     stale producer-state snapshots) are ignored;
//   - the leader epochs and producer state are rebuilt in memory when the
//     files disagree with the batches;
//   - no checkpoint is written, and the durable end is the end of the
//     data as read: nothing can make it more durable.
//
// The states that recovery completes with more than cuts and rebuilds
// are refused with a *ReadOnlyError naming the file: a compaction swap
// past its commit point (a ".swap" file), an interrupted truncation or
// reset (the checkpoint says so), and a partition directory without
// segment files. Opening the partition read-write once completes them.

// ErrReadOnly is returned, in a *ReadOnlyError, for a call that would
// write to a partition opened read-only, and by a read-only Open that
// meets a state only a read-write Open can complete.
var ErrReadOnly = errors.New("commitlog: read-only")

// ReadOnlyError reports a call refused because the Log or partition was
// opened read-only (Options.ReadOnly), or a read-only Open refused
// because recovery must first write (Path names the file that says so).
// It matches ErrReadOnly. Nothing was changed.
type ReadOnlyError struct {
	// Op is the refused call, such as "CreateTopic", or "open".
	Op string
	// Path is, for a refused Open, the file or directory whose state
	// needs a read-write Open; "" otherwise.
	Path string
	// Reason says what that state is; "" for a refused call.
	Reason string
}

func (e *ReadOnlyError) Error() string {
	var b strings.Builder
	b.WriteString("commitlog: ")
	b.WriteString(e.Op)
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s, which only a read-write open completes: open the directory read-write once (without Options.ReadOnly), then read-only again", e.Reason)
		return b.String()
	}
	b.WriteString(": the Log was opened read-only (Options.ReadOnly), which refuses every change: open it read-write to write")
	return b.String()
}

// Is reports whether target is ErrReadOnly.
func (e *ReadOnlyError) Is(target error) bool { return target == ErrReadOnly }

// refuseReadOnly returns a *ReadOnlyError for op on a read-only
// partition, and nil on a writable one.
func (p *PartitionLog) refuseReadOnly(op string) error {
	if !p.cfg.ReadOnly {
		return nil
	}
	return &ReadOnlyError{Op: fmt.Sprintf("%s on %s-%d", op, p.cfg.Topic, p.cfg.Partition)}
}

// needsWriteToOpen returns the *ReadOnlyError of a read-only Open that
// meets, at path, a state that only a read-write Open completes.
func needsWriteToOpen(path, reason string) error {
	return &ReadOnlyError{Op: "open read-only", Path: path, Reason: reason}
}
