package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
	"github.com/commitlog-go/commitlog/internal/storage"
	"github.com/commitlog-go/commitlog/internal/vfs"
)

func newVerifyCommand(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify every batch, index and offset of a directory, as recovery and Check do",
		Long: `Verify a directory with the library's own code: it is opened read-only,
which runs recovery exactly as an application's open would (keeping its
cuts and rebuilds in memory), and then every partition is checked as
Log.Check does: every batch's header, CRC and records, offsets contiguous
across batches and segments, every index entry against its batch, the
high watermark and the leader epochs. Nothing is written.

--dir may be a Log's directory, one partition directory, or a directory
of partition directories; the last two also work on directories written
by Apache Kafka (the same segment format), whose on-disk index entries
are checked against their batches too.

Each problem is printed with the file and byte position it is at. What a
read-write open would repair on its own (a torn tail left by a crash,
an index that disagrees with its data) is printed as a note. Exit status
0 when no problem is found (notes or not), 2 when one is, 3 when another
process holds the directory, 4 when an interrupted operation must first
be completed by a read-write open.`,
		Example: `  commitlog verify -d /var/lib/app/log
  commitlog verify -d /var/lib/app/log/orders-3
  commitlog verify -d /var/lib/kafka/data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := &verifier{e: e, out: bufio.NewWriter(e.stdout)}
			err := v.run(cmd.Context(), dir)
			if ferr := v.out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if v.problems > 0 {
				return &statusError{code: exitCorrupt, msg: fmt.Sprintf("verify %s: %d problems found", dir, v.problems)}
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	return cmd
}

// verifier runs one verify and counts what it found.
type verifier struct {
	e        *env
	out      *bufio.Writer
	problems int
	notes    int
	checked  int   // partitions
	bytes    int64 // their data
}

// run verifies dir, whichever kind of directory it is.
func (v *verifier) run(ctx context.Context, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (dump checks single files)", dir)
	}
	start := time.Now()
	switch {
	case exists(filepath.Join(dir, "LOCK")):
		err = v.verifyLog(ctx, dir)
	case len(segmentFiles(dir)) > 0:
		err = v.verifyPartitionDir(ctx, dir)
	default:
		subs := partitionDirs(dir)
		if len(subs) == 0 {
			return fmt.Errorf("%s holds neither a Log (no LOCK file), nor segment files, nor partition directories: nothing to verify", dir)
		}
		for _, sub := range subs {
			if err := v.verifyPartitionDir(ctx, sub); err != nil {
				return err
			}
		}
	}
	if err != nil {
		return err
	}
	verdict := "no problem found"
	if v.problems > 0 {
		verdict = fmt.Sprintf("%d problems found", v.problems)
	}
	fmt.Fprintf(v.out, "verified %d partitions, %d bytes, in %v: %s, %d notes\n", v.checked, v.bytes, time.Since(start).Round(time.Millisecond), verdict, v.notes)
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// segmentFiles returns the segment data files in dir, sorted.
func segmentFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if _, ok := storage.ParseSegmentName(e.Name(), storage.LogSuffix); ok && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// partitionDirs returns dir's subdirectories that hold segment files.
func partitionDirs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if sub := filepath.Join(dir, e.Name()); e.IsDir() && len(segmentFiles(sub)) > 0 {
			out = append(out, sub)
		}
	}
	return out
}

// problem prints a problem found.
func (v *verifier) problem(format string, args ...any) {
	v.problems++
	fmt.Fprintf(v.out, "! "+format+"\n", args...)
}

// reportErrors prints every problem joined in err. A *CorruptionError
// says which file, byte position and offset.
func (v *verifier) reportErrors(where string, err error) {
	for _, leaf := range leafErrors(err) {
		msg := strings.TrimPrefix(leaf.Error(), "commitlog: ")
		msg = strings.TrimPrefix(msg, where+": ")
		v.problem("%s: %s", where, msg)
	}
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// noteRecorder keeps the warnings recovery and Check log: what a
// read-write open would repair.
type noteRecorder struct {
	mu    sync.Mutex
	notes []string
}

func (n *noteRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (n *noteRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	n.mu.Lock()
	n.notes = append(n.notes, b.String())
	n.mu.Unlock()
	return nil
}
func (n *noteRecorder) WithAttrs([]slog.Attr) slog.Handler { return n }
func (n *noteRecorder) WithGroup(string) slog.Handler      { return n }

// flush prints the notes kept so far, except those skip rejects.
func (v *verifier) flushNotes(n *noteRecorder, where string, skip func(string) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.notes {
		if skip != nil && skip(s) {
			continue
		}
		v.notes++
		fmt.Fprintf(v.out, "note: %s: %s (a read-write open repairs this)\n", where, s)
	}
	n.notes = nil
}

// verifyLog verifies a Log's directory: a read-only Open (recovery) and
// every partition's Check.
func (v *verifier) verifyLog(ctx context.Context, dir string) (err error) {
	notes := &noteRecorder{}
	l, err := commitlog.Open(dir, &commitlog.Options{ReadOnly: true, Logger: slog.New(notes)})
	var ce *commitlog.CorruptionError
	if errors.As(err, &ce) {
		// Open stops at the first damage; each partition directory on
		// its own shows them all (and its own notes). The damage Open met
		// counts as a problem unless one of them shows it.
		fmt.Fprintf(v.out, "open failed: %s\nverifying each partition directory on its own\n", strings.TrimPrefix(err.Error(), "commitlog: "))
		before := v.problems
		for _, sub := range partitionDirs(dir) {
			if err := v.verifyPartitionDir(ctx, sub); err != nil {
				return err
			}
		}
		if v.problems == before {
			v.reportErrors("open", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer closeLog(l, &err)
	v.flushNotes(notes, "open", nil)
	stats := partitionStats(l)
	total := int64(0)
	for _, s := range stats {
		total += s.Bytes
	}
	bar := newProgress(v.e.stderr, total, "verify")
	defer bar.finish()
	done := int64(0)
	for _, s := range stats {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := l.Topic(s.Topic)
		if err != nil {
			return err
		}
		p, err := t.Partition(s.Partition)
		if err != nil {
			return err
		}
		where := fmt.Sprintf("%s-%d", s.Topic, s.Partition)
		before := v.problems
		if err := p.Check(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			v.reportErrors(where, err)
		}
		v.flushNotes(notes, where, nil)
		v.checked++
		v.bytes += s.Bytes
		done += s.Bytes
		bar.set(done)
		if v.problems == before {
			fmt.Fprintf(v.out, "%s: ok (%d segments, %d bytes, offsets %d to %d)\n", where, s.Segments, s.Bytes, s.StartOffset, s.EndOffset)
		}
	}
	return nil
}

// verifyPartitionDir verifies one partition directory on its own, with
// the storage engine's recovery (read-only) and Check, and then the
// on-disk index files against their data, as dump does. A directory
// without a checkpoint file (Apache Kafka's) is scanned from its first
// segment.
func (v *verifier) verifyPartitionDir(ctx context.Context, dir string) (err error) {
	where := filepath.Base(dir)
	topic, id := where, int32(0)
	if i := strings.LastIndexByte(where, '-'); i > 0 {
		if n, err := strconv.ParseInt(where[i+1:], 10, 32); err == nil {
			topic, id = where[:i], int32(n)
		}
	}
	notes := &noteRecorder{}
	kafka := !exists(filepath.Join(dir, storage.CheckpointName))
	p, err := storage.Open(storage.Config{
		FS: vfs.ReadOnly(vfs.Default), Dir: dir, Topic: topic, Partition: id,
		SegmentBytes: 1 << 30, SegmentAge: storage.Forever, IndexIntervalBytes: 4096, SegmentIndexBytes: 10 << 20,
		MaxBatchBytes: 1<<20 + 12, DeleteRetention: storage.Forever, Retention: storage.Forever,
		MinCleanableDirtyRatio: 0.5, ProducerIDExpiration: 24 * time.Hour, CompactionMapBytes: 32 << 20, CompactionDutyCycle: 1,
		SyncAlways: true, RepairCheckpoints: true, ReadOnly: true, Logger: slog.New(notes),
	}, false)
	skip := func(s string) bool {
		// A Kafka directory has no checkpoint of ours, nor our snapshots.
		return kafka && (strings.HasPrefix(s, "repairing a partition checkpoint") || strings.HasPrefix(s, "removing producer state snapshot") ||
			strings.HasPrefix(s, "rebuilding the leader epochs"))
	}
	if err != nil {
		v.flushNotes(notes, where, skip)
		if errors.Is(err, storage.ErrReadOnly) {
			return err
		}
		v.reportErrors(where, err)
		v.checked++
		return nil
	}
	defer func() {
		if cerr := p.Close(); err == nil {
			err = cerr
		}
	}()
	st := p.Stats()
	bar := newProgress(v.e.stderr, st.Bytes, "verify "+where)
	defer bar.finish()
	before := v.problems
	if err := p.Check(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.reportErrors(where, err)
	}
	v.flushNotes(notes, where, skip)
	done := int64(0)
	for _, seg := range segmentFiles(dir) {
		base := strings.TrimSuffix(seg, storage.LogSuffix)
		for _, idx := range []struct {
			suffix string
			time   bool
		}{{storage.IndexSuffix, false}, {storage.TimeIndexSuffix, true}} {
			if err := v.checkIndexFile(where, base+idx.suffix, idx.time); err != nil {
				return err
			}
		}
		if fi, err := os.Stat(seg); err == nil {
			done += fi.Size()
			bar.set(done)
		}
	}
	v.checked++
	v.bytes += st.Bytes
	if v.problems == before {
		fmt.Fprintf(v.out, "%s: ok (%d segments, %d bytes, offsets %d to %d)\n", where, st.Segments, st.Bytes, p.StartOffset(), p.EndOffset())
	}
	return nil
}

// checkIndexFile checks the entries of the index file at path (if it
// exists) against the data file beside it, reporting each bad entry.
func (v *verifier) checkIndexFile(where, path string, timeIndex bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a missing index is rebuilt: recovery noted it
	}
	if err != nil {
		return err
	}
	suffix, size := storage.IndexSuffix, storage.OffsetEntrySize
	if timeIndex {
		suffix, size = storage.TimeIndexSuffix, storage.TimeEntrySize
	}
	base, _ := storage.ParseSegmentName(filepath.Base(path), suffix)
	check, err := newIndexCheck(strings.TrimSuffix(path, suffix)+storage.LogSuffix, timeIndex)
	if err != nil || check == nil {
		return err
	}
	defer check.close()
	for pos := 0; pos+size <= len(data); pos += size {
		b := data[pos : pos+size]
		if isZero(b) {
			continue // preallocated
		}
		var e indexEntry
		if timeIndex {
			e.timestamp = int64(binary.BigEndian.Uint64(b))
			e.offset = base + int64(binary.BigEndian.Uint32(b[8:]))
		} else {
			e.offset = base + int64(binary.BigEndian.Uint32(b))
			e.position = int64(binary.BigEndian.Uint32(b[4:]))
		}
		if problem := check.entry(e); problem != "" {
			v.problem("%s: %s: entry at byte %d (offset %d): %s; the index is derived data: a read-write open of a Log rebuilds it", where, path, pos, e.offset, problem)
		}
	}
	return check.err
}
