package commitlog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// compactionCrashVariant is one configuration of the compaction crash
// workload.
type compactionCrashVariant struct {
	name string
	cfg  TopicConfig
	// deletes interleaves DeleteRecords and retention passes with the
	// compaction passes.
	deletes bool
}

// ccPass is one Log.Compact call of the workload: what it started from,
// and what it left (filled in when it returns).
type ccPass struct {
	name       string
	now        time.Time // the clock during the pass
	activeBase int64     // the active segment's base: the pass touches nothing from here on
	pre        []int64   // offsets visible before the call
	post       []int64   // offsets visible after it returned
	postBases  []int64   // segment bases after it returned
	done       bool
}

// ccSnap is what the workload had done when a crash state was taken.
type ccSnap struct {
	op           int    // the mutating operation the crash came before
	opDesc       string // that operation and its path
	step         string // the workload step that was running
	acked        int    // len(acked) at the crash
	passes       int    // passes started before the crash
	inPass       bool   // the crash fell inside passes[passes-1]
	deleteCalled int64  // the highest DeleteRecords offset called
	deleteAcked  int64  // the highest DeleteRecords offset that returned
	sent         int    // appends called before the crash
}

// ccCrash is one crash state to check.
type ccCrash struct {
	fs   *vfs.MemFS
	snap ccSnap
	keep vfs.CrashOptions
}

// compactionCrashRun runs the workload of one variant, taking crash states
// before every mutating file operation, and checks them. The states of a
// pass are checked once it has returned (the check needs what it left);
// the others as soon as the workload reaches a step boundary, which keeps
// few crash states in memory at a time.
type compactionCrashRun struct {
	t       *testing.T
	v       compactionCrashVariant
	keeps   []vfs.CrashOptions
	batches [3]int // appends before pass 1, before pass 2, and after the reopen

	mu           sync.Mutex // shared with the injector, which may run on the deleter's goroutine
	step         string
	written      map[int64]written // every record an Append was called with, by offset
	acked        []written         // records whose Append returned, in offset order
	sends        []ccSend          // every Append called, in order
	passes       []*ccPass
	inPass       bool
	deleteCalled int64
	deleteAcked  int64
	ops          int
	pending      []ccCrash

	seen          map[string]bool // crash states checked, with the workload's progress
	states        int             // crash states taken
	distinct      int             // of which distinct, and checked
	inPassStates  int             // of which taken inside a pass
	partialStates int             // of which hold some groups of a pass swapped in and others not
}

func (r *compactionCrashRun) setStep(s string) {
	r.mu.Lock()
	r.step = s
	r.mu.Unlock()
}

// inject takes the crash states before each mutating operation.
func (r *compactionCrashRun) inject(mem *vfs.MemFS) vfs.Injector {
	return vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if !op.Mutating() {
			return nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		snap := ccSnap{op: r.ops, opDesc: op.String() + " " + path, step: r.step, acked: len(r.acked),
			passes: len(r.passes), inPass: r.inPass, deleteCalled: r.deleteCalled, deleteAcked: r.deleteAcked, sent: len(r.sends)}
		for i, c := range r.keeps {
			c.Seed = int64(r.ops*10 + i)
			r.pending = append(r.pending, ccCrash{fs: mem.CrashClone(c), snap: snap, keep: r.keeps[i]})
		}
		r.ops++
		return nil
	})
}

// settle checks the crash states taken so far. REQUIRES: no pass runs.
func (r *compactionCrashRun) settle() {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, c := range pending {
		r.states++
		// Many states repeat (a crash before each unsynced write keeps
		// none of them, for one): each is checked once against each
		// progress of the workload.
		key := fmt.Sprintf("%x %d %d %v %d %d", ccTreeHash(r.t, c.fs), c.snap.acked, c.snap.passes, c.snap.inPass, c.snap.deleteCalled, c.snap.deleteAcked)
		if r.seen[key] {
			continue
		}
		r.seen[key] = true
		what := fmt.Sprintf("%s: crash before op %d (%s) during %q, %+v", r.v.name, c.snap.op, c.snap.opDesc, c.snap.step, c.keep)
		r.check(c.fs, c.snap, what)
		r.distinct++
	}
}

// ccTreeHash hashes every name and file content of fs.
func ccTreeHash(t *testing.T, fs *vfs.MemFS) []byte {
	h := sha256.New()
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fs.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			path := filepath.Join(dir, n)
			fi, err := fs.Stat(path)
			require.NoError(t, err)
			fmt.Fprintf(h, "%s %v\n", path, fi.IsDir())
			if fi.IsDir() {
				walk(path)
				continue
			}
			b, err := fs.ReadFile(path)
			require.NoError(t, err)
			fmt.Fprintf(h, "%d\n", len(b))
			h.Write(b)
		}
	}
	walk("/")
	return h.Sum(nil)
}

// mayDrop reports whether tombstone w may be gone after the passes
// passes[:n]: a pass covered it (and so gave it a delete horizon no
// earlier than its own clock plus DeleteRetention) and a later pass ran
// at or past that horizon.
func (r *compactionCrashRun) mayDrop(w written, n int) bool {
	if w.value != nil {
		return false
	}
	for i := range n {
		if w.offset >= r.passes[i].activeBase {
			continue
		}
		for j := i + 1; j < n; j++ {
			if !r.passes[j].now.Before(r.passes[i].now.Add(r.v.cfg.DeleteRetention)) {
				return true
			}
		}
	}
	return false
}

// expectedPost returns the offsets pass j must leave: from the start, the
// latest record of each key among those below the pass's active segment
// (unless a tombstone whose horizon has passed), and everything from the
// active segment on.
func (r *compactionCrashRun) expectedPost(j int, start int64, acked []written) []int64 {
	pa := r.passes[j]
	latest := map[string]int64{}
	for _, w := range acked {
		if w.offset < pa.activeBase {
			latest[w.key] = w.offset
		}
	}
	var out []int64
	for _, w := range acked {
		switch {
		case w.offset < start:
		case w.offset >= pa.activeBase:
			out = append(out, w.offset)
		case latest[w.key] == w.offset && !r.mayDrop(w, j+1):
			out = append(out, w.offset)
		}
	}
	return out
}

// ccSend is one Append of the workload: its first offset and its records,
// named by ccHistValue.
type ccSend struct {
	base   int64
	values []string
}

// history returns what the workload had done at the crash of sn as an
// internal/histcheck history: every Append called as a send, acknowledged
// if it returned, then the crash.
func (r *compactionCrashRun) history(sn ccSnap) *histcheck.Recorder {
	rec := histcheck.NewRecorder(histcheck.Config{})
	acked := 0
	for _, s := range r.sends[:sn.sent] {
		h := rec.Send("writer", ccPartition, s.values...)
		if acked += len(s.values); acked <= sn.acked {
			h.Ok(s.base) // single writer: Append returned base
		}
	}
	rec.Crash()
	return rec
}

// ccPartition is the workload's partition in the history.
var ccPartition = histcheck.Partition{Topic: "c", ID: 0}

// ccHistValue names the record at offset for internal/histcheck: by its
// value, unique among the workload's values; a tombstone or an empty
// value, which are not, by its kind, key, timestamp and offset.
func ccHistValue(offset int64, key, value []byte, ts time.Time) string {
	switch {
	case value == nil:
		return fmt.Sprintf("tombstone:%s:%d@%d", key, ts.UnixMilli(), offset)
	case len(value) == 0:
		return fmt.Sprintf("empty:%s:%d@%d", key, ts.UnixMilli(), offset)
	}
	return string(value)
}

func ccOffsets(recs []Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Offset
	}
	return out
}

// ccWithin returns the offsets of s in [lo, hi).
func ccWithin(s []int64, lo, hi int64) []int64 {
	var out []int64
	for _, o := range s {
		if o >= lo && o < hi {
			out = append(out, o)
		}
	}
	return out
}

func (r *compactionCrashRun) workload(fs vfs.FS) {
	t := r.t
	ctx := context.Background()
	clock := newClock()
	opts := testOptions(fs)
	opts.now = clock.Now
	r.setStep("open")
	l, err := Open(testDir, opts)
	require.NoError(t, err)
	defer func() { l.Close() }()
	r.setStep("create topic")
	_, err = l.CreateTopic(ctx, "c", r.v.cfg)
	require.NoError(t, err)
	p := mustPartition(t, l, "c", 0)
	rng := rand.New(rand.NewPCG(11, 12))
	id := 0

	// appendN appends n batches of records with keys drawn from the first
	// keys ones (k00, k01, ...): a value, an empty value, or a tombstone.
	// Keys k20 to k23 are written once, in the middle of the first phase:
	// two tombstones (which must outlive the second pass and not the
	// third), a value and an empty value.
	appendN := func(phase string, n, keys int) {
		for b := range n {
			recs := make([]Record, 1+rng.IntN(8))
			if phase == "phase 1" && b == n/2 {
				recs = []Record{{Key: []byte("k20")}, {Key: []byte("k21")}, {Key: []byte("k22"), Value: []byte("once")}, {Key: []byte("k23"), Value: []byte{}}}
			}
			for i := range recs {
				if recs[i].Key != nil {
					recs[i].Timestamp = clock.Now()
					continue
				}
				recs[i].Key = fmt.Appendf(nil, "k%02d", rng.IntN(keys))
				switch x := rng.IntN(16); {
				case x < 2: // a tombstone
				case x == 2:
					recs[i].Value = []byte{} // empty, not null
				default:
					junk := make([]byte, 16+rng.IntN(48))
					for j := range junk {
						junk[j] = byte(rng.Uint32())
					}
					recs[i].Value = fmt.Appendf(nil, "v%05d-%x", id, junk)
				}
				recs[i].Timestamp = clock.Now()
				id++
			}
			base := p.EndOffset()
			r.mu.Lock()
			r.step = fmt.Sprintf("append %d of %s", b, phase)
			values := make([]string, len(recs))
			for i, rec := range recs {
				r.written[base+int64(i)] = written{offset: base + int64(i), key: string(rec.Key), value: rec.Value, ts: rec.Timestamp}
				values[i] = ccHistValue(base+int64(i), rec.Key, rec.Value, rec.Timestamp)
			}
			r.sends = append(r.sends, ccSend{base, values})
			r.mu.Unlock()
			res, err := p.Append(ctx, recs)
			require.NoError(t, err)
			require.Equal(t, base, res.BaseOffset, "single writer: the append lands at the end")
			r.mu.Lock()
			for i := range recs {
				r.acked = append(r.acked, r.written[base+int64(i)])
			}
			r.mu.Unlock()
			clock.Advance(time.Millisecond)
		}
		r.settle()
	}
	pass := func(name string) *ccPass {
		bases := segmentBases(p)
		pa := &ccPass{name: name, now: clock.Now(), activeBase: bases[len(bases)-1], pre: ccOffsets(readAll(t, p))}
		r.mu.Lock()
		r.step = name
		r.passes = append(r.passes, pa)
		r.inPass = true
		r.mu.Unlock()
		require.NoError(t, l.Compact(ctx), name)
		post, postBases := ccOffsets(readAll(t, p)), segmentBases(p)
		r.mu.Lock()
		pa.post, pa.postBases, pa.done = post, postBases, true
		r.inPass = false
		acked := slices.Clone(r.acked)
		r.mu.Unlock()
		// The pass did exactly what compaction should.
		require.Equal(t, r.expectedPost(len(r.passes)-1, p.StartOffset(), acked), post, "%s: %s left the wrong records", r.v.name, name)
		require.NoError(t, l.Check(ctx))
		r.settle()
		return pa
	}
	deleteRecords := func(before int64) {
		r.mu.Lock()
		r.step = fmt.Sprintf("DeleteRecords(%d)", before)
		r.deleteCalled = max(r.deleteCalled, before)
		r.mu.Unlock()
		_, err := p.DeleteRecords(ctx, before)
		require.NoError(t, err)
		r.mu.Lock()
		r.deleteAcked = max(r.deleteAcked, before)
		r.step = "EnforceRetention"
		r.mu.Unlock()
		require.NoError(t, l.EnforceRetention(ctx))
		l.waitDeletions() // its removals happen before the next step: the same operations every run
		r.settle()
	}
	// regionsChanged counts the segments of pa's layout whose records it
	// changed.
	regionsChanged := func(pa *ccPass) int {
		n := 0
		for i, lo := range pa.postBases {
			hi := int64(1 << 62)
			if i+1 < len(pa.postBases) {
				hi = pa.postBases[i+1]
			}
			if !slices.Equal(ccWithin(pa.pre, lo, hi), ccWithin(pa.post, lo, hi)) {
				n++
			}
		}
		return n
	}

	appendN("phase 1", r.batches[0], 20)
	require.GreaterOrEqual(t, len(segmentBases(p)), 4, "several segments for the first pass")
	if r.v.deletes {
		bases := segmentBases(p)
		deleteRecords((bases[0]+bases[1])/2 + 3) // inside the first segment
	}
	pa := pass("pass 1")
	require.GreaterOrEqual(t, regionsChanged(pa), 3, "the first pass rewrites several groups")

	appendN("phase 2", r.batches[1], 12)
	if r.v.deletes {
		bases := segmentBases(p)
		deleteRecords((bases[1]+bases[2])/2 + 1) // retention then removes the first segment
	}
	segsBefore := len(segmentBases(p))
	pa = pass("pass 2")
	require.Less(t, len(pa.postBases), segsBefore, "the second pass merges the shrunk segments")
	var onceTombstones []int64 // k20 and k21
	for o, w := range r.written {
		if (w.key == "k20" || w.key == "k21") && o >= p.StartOffset() {
			onceTombstones = append(onceTombstones, o)
		}
	}
	if !r.v.deletes {
		require.Len(t, onceTombstones, 2)
	}
	for _, o := range onceTombstones {
		require.Contains(t, pa.post, o, "a tombstone before its delete horizon outlives the second pass")
	}

	r.setStep("close")
	require.NoError(t, l.Close())
	r.setStep("reopen")
	l, err = Open(testDir, opts)
	require.NoError(t, err)
	p = mustPartition(t, l, "c", 0)
	r.settle()

	appendN("phase 3", r.batches[2], 12)
	if r.v.deletes {
		require.NoError(t, l.EnforceRetention(ctx))
		l.waitDeletions()
	}
	clock.Advance(r.v.cfg.DeleteRetention + time.Hour)
	pa = pass("pass 3")
	for _, o := range onceTombstones {
		require.NotContains(t, pa.post, o, "the third pass drops the tombstones past their delete horizon")
	}
	if r.v.deletes {
		deleteRecords(p.HighWatermark() - 5)
		appendN("phase 4", 3, 12)
		pass("pass 4")
	}
	r.setStep("final close")
	require.NoError(t, l.Close())
}

// check opens a crash state and checks it against what the workload had
// done (snap). r.written and r.passes may hold more (what came after the
// crash): a pass the crash fell inside is complete by now.
func (r *compactionCrashRun) check(fs *vfs.MemFS, sn ccSnap, what string) {
	t := r.t
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	defer l.Close()
	require.NoError(t, l.Check(ctx), what)
	// SyncAlways: every acknowledgement is durable. Compaction leaves
	// holes, and DeleteRecords and retention remove the records below the
	// start.
	rec := r.history(sn)
	histOpts := histcheck.Options{Compacted: []string{"c"}}
	tp, err := l.Topic("c")
	if err != nil {
		require.ErrorIs(t, err, ErrUnknownTopic, what)
		require.Zero(t, sn.acked, what)
		rec.Final(ccPartition, 0, 0, nil)
		requireHistory(t, rec, histOpts, what)
		return
	}
	p, err := tp.Partition(0)
	require.NoError(t, err, what)
	got := readAll(t, p)
	start := p.StartOffset()
	require.GreaterOrEqual(t, start, sn.deleteAcked, "%s: a DeleteRecords that returned was undone", what)
	require.LessOrEqual(t, start, max(sn.deleteCalled, sn.deleteAcked), "%s: start offset above any DeleteRecords", what)

	// Every record read is the one written at its offset.
	seen := make(map[int64]bool, len(got))
	prev := int64(-1)
	for _, rec := range got {
		require.Greater(t, rec.Offset, prev, "%s: offsets strictly increase", what)
		prev = rec.Offset
		w, ok := r.written[rec.Offset]
		require.True(t, ok, "%s: offset %d was never written", what, rec.Offset)
		require.Equal(t, w.key, string(rec.Key), "%s: key at offset %d", what, rec.Offset)
		require.Equal(t, w.value == nil, rec.Value == nil, "%s: tombstone at offset %d", what, rec.Offset)
		require.Equal(t, string(w.value), string(rec.Value), "%s: value at offset %d", what, rec.Offset)
		require.True(t, w.ts.Equal(rec.Timestamp), "%s: offset %d: timestamp %v, wrote %v", what, rec.Offset, rec.Timestamp, w.ts)
		seen[rec.Offset] = true
	}

	// Nothing acknowledged that no pass could touch is gone.
	acked := r.acked[:sn.acked]
	keepFrom := start
	if sn.passes > 0 {
		keepFrom = max(keepFrom, r.passes[sn.passes-1].activeBase)
	}
	for _, w := range acked {
		if w.offset >= keepFrom {
			require.True(t, seen[w.offset], "%s: acknowledged offset %d is missing (no pass touches offsets from %d on)", what, w.offset, keepFrom)
		}
	}
	// The latest record of every key is there, unless a tombstone past
	// its horizon.
	latest := map[string]written{}
	for _, w := range acked {
		latest[w.key] = w
	}
	for _, w := range latest {
		if w.offset >= start && !r.mayDrop(w, sn.passes) {
			require.True(t, seen[w.offset], "%s: the latest record of key %s (offset %d, tombstone %v) is missing", what, w.key, w.offset, w.value == nil)
		}
	}
	reads := make([]histcheck.Read, len(got))
	for i, g := range got {
		reads[i] = histcheck.Read{Partition: ccPartition, Offset: g.Offset, Value: ccHistValue(g.Offset, g.Key, g.Value, g.Timestamp)}
	}
	rec.Final(ccPartition, start, p.EndOffset(), reads)
	requireHistory(t, rec, histOpts, what)

	// Old or new, never a mix: each segment of the pass's layout holds
	// what it held before the pass or what it holds after.
	offs := ccOffsets(got)
	if sn.passes == 0 {
		return
	}
	pa := r.passes[sn.passes-1]
	require.True(t, pa.done, what)
	if !sn.inPass {
		// After the pass: what it left below its active segment stays.
		require.Equal(t, ccWithin(pa.post, start, pa.activeBase), ccWithin(offs, start, pa.activeBase),
			"%s: the records below %d differ from what %s left", what, pa.activeBase, pa.name)
		return
	}
	r.inPassStates++
	var oldSeen, newSeen bool
	for i, lo := range pa.postBases {
		hi := int64(1 << 62)
		if i+1 < len(pa.postBases) {
			hi = pa.postBases[i+1]
		}
		in, pre, post := ccWithin(offs, lo, hi), ccWithin(pa.pre, lo, hi), ccWithin(pa.post, lo, hi)
		isOld, isNew := slices.Equal(in, pre), slices.Equal(in, post)
		if !isOld && !isNew {
			require.Failf(t, "a mix of old and new", "%s: segment [%d, %d) of %s's layout reads %v\nbefore the pass: %v\nafter it: %v",
				what, lo, hi, pa.name, in, pre, post)
		}
		oldSeen = oldSeen || !isNew
		newSeen = newSeen || !isOld
	}
	if oldSeen && newSeen {
		r.partialStates++
	}
}

// TestCompactionCrashAtEveryPoint crashes a workload on a compacted topic
// before every mutating file operation: appends of keyed records with
// tombstones and empty values over several segments, a pass rewriting
// several groups, more appends, a second pass merging the shrunk segments,
// a close and reopen, more appends, and past DeleteRetention a third pass
// dropping tombstones; a second variant (compact+delete, compressed)
// interleaves DeleteRecords and retention passes. Every crash state opens
// and passes Check, every record read is the one written at its offset,
// nothing acknowledged that no pass could touch is lost, the latest record
// of each key is kept (tombstones past their horizon aside), and each
// segment of a pass's layout holds either what it held before the pass or
// what it holds after, never a mix; and internal/histcheck checks each
// state against the appends up to the crash. Each pass is also checked
// against the model of what compaction keeps.
//
// The workload runs once, taking the crash states before every mutating
// operation as it goes: the same states as one run per crash point, as the
// operations are the same every run (no background work fires, and the
// retention deleter is waited for).
func TestCompactionCrashAtEveryPoint(t *testing.T) {
	keeps := []vfs.CrashOptions{{KeepUnsynced: 0}, {KeepUnsynced: 0.7, Tear: true}, {KeepUnsynced: 1}}
	compressed := compactTopic
	compressed.CleanupPolicy = CleanupCompactDelete
	compressed.Compression = CodecZstd
	variants := []compactionCrashVariant{
		{name: "compact", cfg: compactTopic},
		{name: "compact,delete+zstd", cfg: compressed, deletes: true},
	}
	batches := [3]int{40, 24, 12}
	if testing.Short() {
		batches = [3]int{36, 20, 8}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			r := &compactionCrashRun{t: t, v: v, keeps: keeps, batches: batches, written: map[int64]written{}, seen: map[string]bool{}}
			mem := vfs.NewMem()
			r.workload(vfs.WithInjector(mem, r.inject(mem), vfs.InjectOptions{}))
			r.settle()
			require.Greater(t, r.ops, 100, "the workload should have many crash points")
			// The end state, nothing lost.
			r.check(mem, ccSnap{step: "end", acked: len(r.acked), passes: len(r.passes),
				deleteCalled: r.deleteCalled, deleteAcked: r.deleteAcked, sent: len(r.sends)}, v.name+": after the workload")
			r.states++
			r.distinct++
			require.Positive(t, r.partialStates, "some crash states fall between the swaps of a pass")
			t.Logf("%d crash points, %d crash states, %d distinct ones checked (%d inside a pass, %d of them between its swaps)",
				r.ops, r.states, r.distinct, r.inPassStates, r.partialStates)
		})
	}
}

// TestCompactionSwapRecovery builds the states a crash can leave a
// compaction swap in and checks that Open rolls back or completes each:
// a finished ".cleaned" set (also with an index file already renamed to
// ".swap", and without its data file) is rolled back; a ".log.swap" past
// the commit point with the replaced segments still live (also with an
// index file still ".cleaned", or some replaced segments already gone) is
// completed; index ".swap" files left after the data file reached its live
// name are renamed; a damaged ".log.swap" fails Open as corruption.
func TestCompactionSwapRecovery(t *testing.T) {
	ctx := context.Background()
	// setup leads to the eve of a pass whose first group merges the
	// segments a first pass shrank and drops records that later appends
	// superseded, followed by full segments of those appends.
	setup := func(fs vfs.FS) (*Log, *Partition) {
		clock := newClock()
		opts := testOptions(fs)
		opts.now = clock.Now
		l, err := Open(testDir, opts)
		require.NoError(t, err)
		_, err = l.CreateTopic(ctx, "c", compactTopic)
		require.NoError(t, err)
		p := mustPartition(t, l, "c", 0)
		rng := rand.New(rand.NewPCG(5, 6))
		appendKeyed(t, p, rng, clock, 70, 6, 12)
		require.NoError(t, l.Compact(ctx))
		appendKeyed(t, p, rng, clock, 40, 6, 6) // supersedes half the keys
		return l, p
	}

	// The reference: the pass without a crash.
	ref := vfs.NewMem()
	l, p := setup(ref)
	dir := p.store.Dir()
	pre, preBases := readAll(t, p), segmentBases(p)
	require.NoError(t, l.Compact(ctx))
	post, postBases := readAll(t, p), segmentBases(p)
	require.NoError(t, l.Close())
	require.Greater(t, len(postBases), 1)
	x, x1 := postBases[0], postBases[1] // the first group: [x, x1)
	var replaced []int64                // the segments its swap removes
	for _, b := range preBases {
		if b > x && b < x1 {
			replaced = append(replaced, b)
		}
	}
	require.NotEmpty(t, replaced, "the first group merges segments")
	require.NotEqual(t, ccOffsets(ccRecordsWithin(pre, x, x1)), ccOffsets(ccRecordsWithin(post, x, x1)), "the first group drops records")
	file := func(base int64, kind, suffix string) string {
		return filepath.Join(dir, segmentName(base, kind)+suffix)
	}
	refFile := func(kind string) []byte {
		b, err := ref.ReadFile(file(x, kind, ""))
		require.NoError(t, err)
		return b
	}

	// The same, crashing: the state just before the first rename of the
	// ".cleaned" files (the set is finished and durable), and the state
	// just after the commit point's directory fsync, when the operation
	// after it (removing the first replaced segment) fails.
	mem := vfs.NewMem()
	var (
		mu               sync.Mutex
		armed            bool
		stage            int
		cleaned, swapped *vfs.MemFS
		failedOp         vfs.Op
	)
	inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if !op.Mutating() {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !armed:
		case stage == 0 && op == vfs.OpRename && strings.HasSuffix(path, cleanedSuffix):
			cleaned = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
			stage = 1
		case stage == 1 && op == vfs.OpSyncDir:
			stage = 2
		case stage == 2:
			swapped = mem.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})
			failedOp = op
			stage = 3
			return vfs.ErrInjected
		}
		return nil
	})
	l, p = setup(vfs.WithInjector(mem, inj, vfs.InjectOptions{}))
	require.Equal(t, pre, readAll(t, p), "the setup is deterministic")
	mu.Lock()
	armed = true
	mu.Unlock()
	require.ErrorIs(t, l.Compact(ctx), vfs.ErrInjected)
	l.Close()
	require.Equal(t, 3, stage)
	require.Equal(t, vfs.OpRemove, failedOp, "the operation after the commit point removes a replaced segment")

	copyOf := func(fs *vfs.MemFS) *vfs.MemFS { return fs.CrashClone(vfs.CrashOptions{KeepUnsynced: 1}) }
	exists := func(fs *vfs.MemFS, path string) bool {
		_, err := fs.Stat(path)
		if err != nil {
			require.True(t, isNotExist(err), "%s: %v", path, err)
		}
		return err == nil
	}
	read := func(fs *vfs.MemFS, path string) []byte {
		b, err := fs.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	rename := func(fs *vfs.MemFS, from, to string) {
		require.NoError(t, fs.Rename(from, to))
		require.NoError(t, fs.SyncDir(dir))
	}
	remove := func(fs *vfs.MemFS, path string) {
		require.NoError(t, fs.Remove(path))
		require.NoError(t, fs.SyncDir(dir))
	}
	// open opens fs, checks it, and that no file of a swap is left.
	open := func(t *testing.T, fs *vfs.MemFS) (*Log, *Partition, *logRecorder) {
		logs := &logRecorder{}
		opts := testOptions(fs)
		opts.Logger = slog.New(logs)
		l, err := Open(testDir, opts)
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		require.NoError(t, l.Check(ctx))
		names, err := fs.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			require.False(t, strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix), "%s is left after Open", n)
		}
		require.False(t, logs.logged("rebuilding"), "no index needed a rebuild: %v", logs.msgs)
		return l, mustPartition(t, l, "c", 0), logs
	}

	// rolledBack checks the state Open made of a swap before its commit
	// point: the old segments, untouched.
	rolledBack := func(t *testing.T, fs *vfs.MemFS) {
		oldX := map[string][]byte{}
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			oldX[kind] = read(fs, file(x, kind, ""))
		}
		_, p, logs := open(t, fs)
		require.True(t, logs.logged("rolled back a compaction swap"), "%v", logs.msgs)
		require.Equal(t, preBases, segmentBases(p))
		require.Equal(t, pre, readAll(t, p))
		for kind, b := range oldX {
			require.Equal(t, b, read(fs, file(x, kind, "")), "the old %s file is untouched", kind)
		}
	}
	// completed checks the state Open made of a swap past its commit
	// point: the first group as the pass left it, the rest as before.
	completed := func(t *testing.T, fs *vfs.MemFS) {
		_, p, logs := open(t, fs)
		require.True(t, logs.logged("completed a compaction swap"), "%v", logs.msgs)
		var bases []int64
		for _, b := range preBases {
			if !slices.Contains(replaced, b) {
				bases = append(bases, b)
			}
		}
		require.Equal(t, bases, segmentBases(p))
		for _, b := range replaced {
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				require.False(t, exists(fs, file(b, kind, "")), "replaced segment file %s is removed", file(b, kind, ""))
			}
		}
		want := slices.Concat(ccRecordsWithin(pre, 0, x), ccRecordsWithin(post, x, x1), ccRecordsWithin(pre, x1, 1<<62))
		require.Equal(t, want, readAll(t, p))
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			require.Equal(t, refFile(kind), read(fs, file(x, kind, "")), "the %s file is the compacted one", kind)
		}
	}

	t.Run("cleaned set rolled back", func(t *testing.T) {
		fs := copyOf(cleaned)
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			require.True(t, exists(fs, file(x, kind, cleanedSuffix)))
			require.False(t, exists(fs, file(x, kind, swapSuffix)))
		}
		for _, b := range replaced {
			require.True(t, exists(fs, file(b, logSuffix, "")))
		}
		rolledBack(t, fs)
	})
	t.Run("cleaned set with the index renamed to swap rolled back", func(t *testing.T) {
		// The crash kept the first rename of the commit, not the data file's.
		fs := copyOf(cleaned)
		rename(fs, file(x, indexSuffix, cleanedSuffix), file(x, indexSuffix, swapSuffix))
		rolledBack(t, fs)
	})
	t.Run("cleaned indexes without their data file removed", func(t *testing.T) {
		// The crash kept the index files' creation, not the data file's.
		fs := copyOf(cleaned)
		remove(fs, file(x, logSuffix, cleanedSuffix))
		_, p, _ := open(t, fs)
		require.Equal(t, preBases, segmentBases(p))
		require.Equal(t, pre, readAll(t, p))
	})
	t.Run("swap completed", func(t *testing.T) {
		fs := copyOf(swapped)
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			require.True(t, exists(fs, file(x, kind, swapSuffix)))
			require.False(t, exists(fs, file(x, kind, cleanedSuffix)))
			require.True(t, exists(fs, file(x, kind, "")), "the old segment's files are live")
		}
		for _, b := range replaced {
			require.True(t, exists(fs, file(b, logSuffix, "")), "replaced segment %d is live", b)
		}
		completed(t, fs)
	})
	t.Run("swap with the index still cleaned completed", func(t *testing.T) {
		// The crash kept the data file's rename to ".swap", not the index's.
		fs := copyOf(swapped)
		rename(fs, file(x, indexSuffix, swapSuffix), file(x, indexSuffix, cleanedSuffix))
		completed(t, fs)
	})
	t.Run("swap with some replaced segments gone completed", func(t *testing.T) {
		fs := copyOf(swapped)
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			remove(fs, file(replaced[0], kind, ""))
		}
		remove(fs, file(replaced[len(replaced)-1], indexSuffix, ""))
		completed(t, fs)
	})
	t.Run("index swaps after the data file went live renamed", func(t *testing.T) {
		// The crash kept the removals and the data file's rename over the
		// live name, not the index files' (renamed first).
		fs := copyOf(swapped)
		for _, b := range replaced {
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				remove(fs, file(b, kind, ""))
			}
		}
		rename(fs, file(x, logSuffix, swapSuffix), file(x, logSuffix, ""))
		require.True(t, exists(fs, file(x, indexSuffix, "")), "the old index is live")
		_, p, _ := open(t, fs)
		want := slices.Concat(ccRecordsWithin(pre, 0, x), ccRecordsWithin(post, x, x1), ccRecordsWithin(pre, x1, 1<<62))
		require.Equal(t, want, readAll(t, p))
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			require.Equal(t, refFile(kind), read(fs, file(x, kind, "")), "the %s file is the compacted one", kind)
		}
	})
	t.Run("time index swap after the rest went live renamed", func(t *testing.T) {
		fs := copyOf(swapped)
		for _, b := range replaced {
			for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				remove(fs, file(b, kind, ""))
			}
		}
		rename(fs, file(x, indexSuffix, swapSuffix), file(x, indexSuffix, ""))
		rename(fs, file(x, logSuffix, swapSuffix), file(x, logSuffix, ""))
		_, p, _ := open(t, fs)
		want := slices.Concat(ccRecordsWithin(pre, 0, x), ccRecordsWithin(post, x, x1), ccRecordsWithin(pre, x1, 1<<62))
		require.Equal(t, want, readAll(t, p))
		for _, kind := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			require.Equal(t, refFile(kind), read(fs, file(x, kind, "")), "the %s file is the compacted one", kind)
		}
	})
	for _, damage := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-7] }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		t.Run("damaged swap fails Open: "+damage.name, func(t *testing.T) {
			fs := copyOf(swapped)
			path := file(x, logSuffix, swapSuffix)
			require.NoError(t, fs.WriteFile(path, damage.fn(read(fs, path))))
			l, err := Open(testDir, testOptions(fs))
			if err == nil {
				l.Close()
			}
			var cerr *CorruptionError
			require.ErrorAs(t, err, &cerr)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Equal(t, path, cerr.Path)
			// Nothing was changed: the replaced segments are still there.
			for _, b := range replaced {
				require.True(t, exists(fs, file(b, logSuffix, "")))
			}
		})
	}
}

// ccRecordsWithin returns the records of recs with offsets in [lo, hi).
func ccRecordsWithin(recs []Record, lo, hi int64) []Record {
	var out []Record
	for _, r := range recs {
		if r.Offset >= lo && r.Offset < hi {
			out = append(out, r)
		}
	}
	return out
}
