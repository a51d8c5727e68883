package storage

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/commitlog-go/commitlog/internal/vfs"
)

// A partition's leader epochs, after Kafka's LeaderEpochFileCache: the
// ordered (epoch, start offset) pairs saying at which offset each leader
// epoch's first batch was written. Replication uses them to find where a
// follower's log diverges from its leader's (KIP-101, KIP-279): truncation
// goes by epoch, never by high watermark. The cache is truncated with the
// log (from the end) and trimmed when the log start offset moves (from the
// start).
//
// This file holds the cache and its file; recovery and replication use
// them. The file, leader-epoch-checkpoint, is Kafka's text format (a version
// line, a count line, one "epoch startOffset" line per entry) followed by
// a "crc32c %08x" line over everything before it, so that damage is never
// read as epochs. It is replaced atomically (WriteFileAtomic).

// LeaderEpochsName is the file name of a partition's leader epochs.
const LeaderEpochsName = "leader-epoch-checkpoint"

// leaderEpochsVersion is the version line of the file (Kafka's is 0).
const leaderEpochsVersion = 0

// NoEpoch is the epoch and offset endOffsetFor answers when it knows no
// answer (Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET).
const NoEpoch = -1

// epochEntry says that leader epoch epoch wrote its first batch at offset
// start.
type epochEntry struct {
	epoch int32
	start int64
}

// leaderEpochs is the cache: entries ascending by epoch and by start
// offset, both strictly. Not safe for concurrent use.
type leaderEpochs struct {
	entries []epochEntry
}

// latest returns the latest epoch, or NoEpoch when there is none.
func (c *leaderEpochs) latest() int32 {
	if len(c.entries) == 0 {
		return NoEpoch
	}
	return c.entries[len(c.entries)-1].epoch
}

// assign records that epoch starts at offset start and reports whether
// the cache changed. An epoch already known from an earlier offset is
// left as it is; otherwise every entry with an epoch at or above epoch,
// or a start at or above start, is dropped first (they can only be left
// by a log truncated since), so the entries stay monotonic in both.
func (c *leaderEpochs) assign(epoch int32, start int64) bool {
	if epoch < 0 || start < 0 {
		return false
	}
	if n := len(c.entries); n > 0 && c.entries[n-1].epoch == epoch && c.entries[n-1].start <= start {
		return false
	}
	c.entries = slices.DeleteFunc(c.entries, func(e epochEntry) bool { return e.epoch >= epoch || e.start >= start })
	c.entries = append(c.entries, epochEntry{epoch, start})
	return true
}

// endOffsetFor answers a follower whose latest epoch is requested: the
// largest epoch at or below requested, and the offset where the epoch
// after it starts, or end (the log end offset) when requested is the
// latest epoch. It returns NoEpoch, NoEpoch when requested is below the
// first epoch known, above the latest, or NoEpoch.
func (c *leaderEpochs) endOffsetFor(requested int32, end int64) (epoch int32, offset int64) {
	if requested < 0 || len(c.entries) == 0 {
		return NoEpoch, NoEpoch
	}
	if requested == c.latest() {
		return requested, end
	}
	// The first entry with an epoch above requested.
	i, _ := slices.BinarySearchFunc(c.entries, requested+1, func(e epochEntry, t int32) int { return int(e.epoch) - int(t) })
	if i == 0 || i == len(c.entries) {
		return NoEpoch, NoEpoch
	}
	return c.entries[i-1].epoch, c.entries[i].start
}

// truncateFromEnd drops the entries of epochs that start at or above
// end, as the log is truncated to end.
func (c *leaderEpochs) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	c.entries = slices.DeleteFunc(c.entries, func(e epochEntry) bool { return e.start >= end })
	return len(c.entries) != n
}

// truncateFromStart trims the entries below the new log start offset
// start: the epoch holding start is kept, starting at start, and those
// before it go.
func (c *leaderEpochs) truncateFromStart(start int64) bool {
	i, _ := slices.BinarySearchFunc(c.entries, start+1, func(e epochEntry, t int64) int {
		switch {
		case e.start < t:
			return -1
		case e.start > t:
			return 1
		}
		return 0
	})
	// entries[:i] start at or below start; the last of them holds it.
	if i == 0 || i == 1 && c.entries[0].start == start {
		return false
	}
	c.entries = c.entries[i-1:]
	c.entries[0].start = start
	return true
}

// clone returns a copy of the cache.
func (c *leaderEpochs) clone() *leaderEpochs {
	return &leaderEpochs{entries: slices.Clone(c.entries)}
}

// epochBefore returns the epoch of the last entry that starts below
// offset: the epoch of the batch just before offset, in a cache that
// agrees with its log. NoEpoch when there is none.
func (c *leaderEpochs) epochBefore(offset int64) int32 {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].start < offset {
			return c.entries[i].epoch
		}
	}
	return NoEpoch
}

// startOf returns the start offset of epoch, or -1 when the cache does
// not know it.
func (c *leaderEpochs) startOf(epoch int32) int64 {
	i, found := slices.BinarySearchFunc(c.entries, epoch, func(e epochEntry, t int32) int { return int(e.epoch) - int(t) })
	if !found {
		return -1
	}
	return c.entries[i].start
}

// reconcile checks the cache against runs, the epochs of the batches of
// the log from offset from to its end end: one run per batch whose epoch
// differs from its predecessor's (and one for the first batch, at from),
// each at the batch's base offset, ascending. The cache must hold no
// entry above end; an entry at end is an epoch assigned before any batch
// of it was written. It extends the cache with the epochs of runs that
// start after its latest entry (batches whose epochs it never heard of),
// and reports whether the two agree: the cache, cut at from and given
// the runs, is the cache so extended. If not, the cache is unchanged.
func (c *leaderEpochs) reconcile(from, end int64, runs []epochEntry) bool {
	entries := c.entries
	var assigned *epochEntry
	if n := len(entries); n > 0 && entries[n-1].start == end {
		assigned, entries = &entries[n-1], entries[:n-1]
	}
	want := &leaderEpochs{entries: slices.Clone(entries)}
	want.truncateFromEnd(from)
	for _, r := range runs {
		if r.epoch < 0 {
			return false
		}
		want.assign(r.epoch, r.start)
	}
	if len(want.entries) < len(entries) || !slices.Equal(want.entries[:len(entries)], entries) {
		return false
	}
	if assigned != nil {
		if assigned.epoch <= want.latest() {
			return false
		}
		want.entries = append(want.entries, *assigned)
	}
	c.entries = want.entries
	return true
}

// marshal encodes the cache as the file holds it.
func (c *leaderEpochs) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", leaderEpochsVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

// unmarshalLeaderEpochs decodes a file's contents, checking the checksum,
// the version, the count and that the entries are strictly ascending.
func unmarshalLeaderEpochs(data []byte) (*leaderEpochs, error) {
	body, trailer, ok := cutLastLine(data)
	if !ok {
		return nil, fmt.Errorf("no checksum line")
	}
	if want := fmt.Sprintf("crc32c %08x", crc32.Checksum(body, castagnoli)); trailer != want {
		return nil, fmt.Errorf("checksum line %q, the contents need %q", trailer, want)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("%d lines, need a version and a count", len(lines))
	}
	if lines[0] != strconv.Itoa(leaderEpochsVersion) {
		return nil, fmt.Errorf("version %q, want %d", lines[0], leaderEpochsVersion)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("count %q for %d entries", lines[1], len(lines)-2)
	}
	c := &leaderEpochs{entries: make([]epochEntry, 0, n)}
	for i, line := range lines[2:] {
		es, ss, ok := strings.Cut(line, " ")
		epoch, err1 := strconv.ParseInt(es, 10, 32)
		start, err2 := strconv.ParseInt(ss, 10, 64)
		if !ok || err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("entry %d: %q is not two non-negative numbers", i, line)
		}
		if k := len(c.entries); k > 0 && (int32(epoch) <= c.entries[k-1].epoch || start <= c.entries[k-1].start) {
			return nil, fmt.Errorf("entry %d: epoch %d at offset %d does not follow epoch %d at offset %d",
				i, epoch, start, c.entries[k-1].epoch, c.entries[k-1].start)
		}
		c.entries = append(c.entries, epochEntry{int32(epoch), start})
	}
	return c, nil
}

// cutLastLine splits data, which must end in a newline, before its last
// line, and returns that line without the newline.
func cutLastLine(data []byte) (body []byte, last string, ok bool) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(data[:len(data)-1], '\n')
	return data[:i+1], string(data[i+1 : len(data)-1]), true
}

// writeLeaderEpochs replaces the file in dir with c, durably.
func writeLeaderEpochs(fs vfs.FS, dir string, c *leaderEpochs) error {
	return WriteFileAtomic(fs, filepath.Join(dir, LeaderEpochsName), c.marshal())
}

// readLeaderEpochs reads the file in dir. A missing file is an empty
// cache; damage is a *CorruptionError naming the file.
func readLeaderEpochs(fs vfs.FS, dir string) (*leaderEpochs, error) {
	path := filepath.Join(dir, LeaderEpochsName)
	data, err := ReadFile(fs, path)
	switch {
	case isNotExist(err):
		return &leaderEpochs{}, nil
	case err != nil:
		return nil, err
	}
	c, err := unmarshalLeaderEpochs(data)
	if err != nil {
		return nil, &CorruptionError{Path: path, Offset: -1, Reason: "leader epochs: " + err.Error(),
			Remedy: "restore the file from a backup"}
	}
	return c, nil
}
