package kafka

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
)

// Sync points, the offset-syncs topic, resuming and offset translation:
// see Mirror for the design.

// syncPoint says that the record at source offset s was copied to
// target offset d.
type syncPoint struct{ s, d int64 }

// syncRecord is a sync point of one partition, as written to the
// offset-syncs topic.
type syncRecord struct {
	tp commitlog.TopicPartition
	p  syncPoint
}

// syncVersion is the first byte of a sync record's value: version,
// partition (4 bytes), source offset, target offset (8 bytes each, big
// endian); the key is the topic.
const syncVersion = 0

func encodeSync(sr syncRecord) *commitlog.Record {
	v := make([]byte, 21)
	v[0] = syncVersion
	binary.BigEndian.PutUint32(v[1:], uint32(sr.tp.Partition))
	binary.BigEndian.PutUint64(v[5:], uint64(sr.p.s))
	binary.BigEndian.PutUint64(v[13:], uint64(sr.p.d))
	return &commitlog.Record{Key: []byte(sr.tp.Topic), Value: v}
}

func decodeSync(r *commitlog.Record) (syncRecord, bool) {
	v := r.Value
	if len(v) != 21 || v[0] != syncVersion {
		return syncRecord{}, false
	}
	return syncRecord{
		tp: commitlog.TopicPartition{Topic: string(r.Key), Partition: int32(binary.BigEndian.Uint32(v[1:]))},
		p:  syncPoint{s: int64(binary.BigEndian.Uint64(v[5:])), d: int64(binary.BigEndian.Uint64(v[13:]))},
	}, true
}

// partProgress is what a mirror knows of one partition's copy.
type partProgress struct {
	points     []syncPoint // ascending: discontinuities (and periodic points)
	last       syncPoint   // the latest copied record, if copied
	copied     bool
	queued     syncPoint // the latest point queued or written
	hasQueued  bool
	written    syncPoint // the latest point written
	hasWritten bool
	moved      bool // last changed since the last periodic point
	// readTo is where the run has read the source to with every copied
	// record before it acknowledged (records after last skipped): a
	// group offset up to it translates to last.d+1. acked counts the
	// records acknowledged; skipTo is the readTo to take once skipAfter
	// of them are.
	readTo, skipTo   int64
	acked, skipAfter int64
	committed        int64 // the source offset last committed; -1 none
}

// mirrorTable is one Run's knowledge of the copy: per partition, its
// sync points and progress. Safe for concurrent use.
type mirrorTable struct {
	mu      sync.Mutex
	parts   map[commitlog.TopicPartition]*partProgress
	pending []syncRecord  // discontinuities not yet written
	watch   chan struct{} // closed on the next advance (nil: nobody waits)
}

func newMirrorTable() *mirrorTable {
	return &mirrorTable{parts: map[commitlog.TopicPartition]*partProgress{}}
}

// part returns tp's progress. REQUIRES: mu.
func (t *mirrorTable) part(tp commitlog.TopicPartition) *partProgress {
	pp := t.parts[tp]
	if pp == nil {
		pp = &partProgress{committed: -1}
		t.parts[tp] = pp
	}
	return pp
}

// load adds a sync point read from the offset-syncs topic.
func (t *mirrorTable) load(sr syncRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp := t.part(sr.tp)
	if pp.copied && sr.p.s <= pp.last.s {
		return // a repeated periodic point, or out of order: keep the table ascending
	}
	pp.points = append(pp.points, sr.p)
	pp.last, pp.copied = sr.p, true
	pp.queued, pp.hasQueued, pp.written, pp.hasWritten = sr.p, true, sr.p, true
}

// advance records a copied record's point and reports whether it is not
// contiguous with the partition's previous one: then it is queued as a
// sync point to write.
func (t *mirrorTable) advance(tp commitlog.TopicPartition, p syncPoint) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp := t.part(tp)
	disc := !pp.copied || p.s != pp.last.s+1 || p.d != pp.last.d+1
	if disc {
		pp.points = append(pp.points, p)
		t.pending = append(t.pending, syncRecord{tp, p})
		pp.queued, pp.hasQueued = p, true
	}
	pp.last, pp.copied, pp.moved = p, true, true
	if pp.acked++; pp.acked >= pp.skipAfter && pp.skipTo > p.s+1 {
		pp.readTo = pp.skipTo
	}
	if t.watch != nil {
		close(t.watch)
		t.watch = nil
	}
	return disc
}

// skipped records that the record at source offset s of tp was read and
// not copied, after the run had produced n records of tp.
func (t *mirrorTable) skipped(tp commitlog.TopicPartition, s, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp := t.part(tp)
	pp.skipTo, pp.skipAfter = s+1, n
	if pp.acked >= n {
		pp.readTo = s + 1
	}
}

// take returns the sync points to write now: the pending
// discontinuities and, if periodic, the latest point of every partition
// that moved since.
func (t *mirrorTable) take(periodic bool) []syncRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.pending
	t.pending = nil
	if periodic {
		for _, tp := range slices.SortedFunc(maps.Keys(t.parts), compareTPs) {
			pp := t.parts[tp]
			if pp.moved && (!pp.hasQueued || pp.queued != pp.last) {
				out = append(out, syncRecord{tp, pp.last})
				pp.queued, pp.hasQueued = pp.last, true
			}
			pp.moved = false
		}
	}
	return out
}

// markWritten records that recs are in the offset-syncs topic.
func (t *mirrorTable) markWritten(recs []syncRecord) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sr := range recs {
		if pp := t.part(sr.tp); !pp.hasWritten || sr.p.s > pp.written.s {
			pp.written, pp.hasWritten = sr.p, true
		}
	}
}

// toCommit returns the source offsets to commit: after each partition's
// latest written point, where that moved since the last commit.
func (t *mirrorTable) toCommit() map[commitlog.TopicPartition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[commitlog.TopicPartition]int64{}
	for tp, pp := range t.parts {
		if pp.hasWritten && pp.written.s+1 > pp.committed {
			out[tp] = pp.written.s + 1
		}
	}
	return out
}

// setCommitted records a successful commit of offsets.
func (t *mirrorTable) setCommitted(offsets map[commitlog.TopicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, o := range offsets {
		t.part(tp).committed = o
	}
}

// next returns where the source of each copied partition continues.
func (t *mirrorTable) next() map[commitlog.TopicPartition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[commitlog.TopicPartition]int64{}
	for tp, pp := range t.parts {
		if pp.copied {
			out[tp] = pp.last.s + 1
		}
	}
	return out
}

// translate implements Mirror.Translate.
func (t *mirrorTable) translate(tp commitlog.TopicPartition, n int64) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pp := t.parts[tp]
	if pp == nil || !pp.copied || len(pp.points) == 0 {
		return 0, false
	}
	if n > pp.last.s {
		if n == pp.last.s+1 || n <= pp.readTo {
			return pp.last.d + 1, true
		}
		return 0, false
	}
	pts := pp.points
	i := sort.Search(len(pts), func(i int) bool { return pts[i].s > n }) - 1
	if i < 0 {
		return pts[0].d, true
	}
	d := pts[i].d + (n - pts[i].s)
	if i+1 < len(pts) {
		d = min(d, pts[i+1].d)
	}
	return min(d, pp.last.d), true
}

// copiedAt reports whether the record at source offset s of tp (or a
// later one) is copied, and returns a channel closed at the next
// progress otherwise.
func (t *mirrorTable) copiedAt(tp commitlog.TopicPartition, s int64) (bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pp := t.parts[tp]; pp != nil && pp.copied && pp.last.s >= s {
		return true, nil
	}
	if t.watch == nil {
		t.watch = make(chan struct{})
	}
	return false, t.watch
}

// Translate returns the target offset at which a group whose committed
// offset on the source is sourceOffset (the next offset it would read)
// continues on the target, and false when it cannot tell yet (the
// mirror has not copied that far, or has not resumed). See Mirror for
// the rule. It reads the running (or last) Run's tables and never
// waits.
func (m *Mirror) Translate(tp commitlog.TopicPartition, sourceOffset int64) (targetOffset int64, ok bool) {
	t := m.table.Load()
	if t == nil {
		return 0, false
	}
	return t.translate(tp, sourceOffset)
}

// setTable makes t the table Translate and waiters read.
func (m *Mirror) setTable(t *mirrorTable) {
	m.table.Store(t)
	m.swapMu.Lock()
	if m.swapped != nil {
		close(m.swapped)
		m.swapped = nil
	}
	m.swapMu.Unlock()
}

// waitCopied waits until the record at source offset s of tp, or a later
// one, has been copied (by any Run), or ctx ends.
func (m *Mirror) waitCopied(ctx context.Context, tp commitlog.TopicPartition, s int64) error {
	for {
		m.swapMu.Lock()
		if m.swapped == nil {
			m.swapped = make(chan struct{})
		}
		swapped := m.swapped
		m.swapMu.Unlock()
		var progress <-chan struct{}
		if t := m.table.Load(); t != nil {
			var ok bool
			if ok, progress = t.copiedAt(tp, s); ok {
				return nil
			}
		}
		select {
		case <-progress:
		case <-swapped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// scanIdle is how long a scan of a Kafka partition waits for records
// below the high watermark it was given before taking the rest to hold
// none (only transaction markers, say). A Log's partitions are scanned
// to their end: their consumers' lag says when it is reached.
const scanIdle = 5 * time.Second

// scan reads the partitions of from, each from its offset there up to
// its offset in ends, calling fn for each record; fn's error ends it.
func scan(ctx context.Context, e *Endpoint, from, ends map[commitlog.TopicPartition]int64, fn func(*commitlog.Record) error) error {
	if len(from) == 0 {
		return nil
	}
	tps := slices.SortedFunc(maps.Keys(from), compareTPs)
	c, err := e.NewConsumer(commitlog.ConsumerConfig{
		Partitions:      tps,
		AutoOffsetReset: commitlog.ResetEarliest,
		MaxPollRecords:  10_000,
		FetchMaxWait:    100 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, tp := range tps {
		if err := c.Seek(tp, from[tp]); err != nil {
			return err
		}
	}
	left := maps.Clone(ends)
	for len(left) > 0 {
		pctx, cancel := context.WithTimeout(ctx, scanIdle)
		recs, err := c.Poll(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// A partition whose consumer is at the high watermark
				// holds nothing more below it.
				lag := c.Lag()
				for tp := range left {
					if lag[tp] == 0 {
						delete(left, tp)
					}
				}
				var l *commitlog.Log
				if len(left) == 0 || !e.Admin.As(&l) {
					// On Kafka, offsets below the high watermark may hold
					// only transaction markers, which no Poll returns and
					// the consumer's position does not count: an idle
					// scan takes the rest to hold none.
					return nil
				}
				continue // a Log's lag is exact: its records are coming
			}
			return err
		}
		for i := range recs {
			tp := commitlog.TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}
			end, ok := left[tp]
			if !ok || recs[i].Offset >= end {
				continue
			}
			if err := fn(&recs[i]); err != nil {
				return err
			}
			if recs[i].Offset+1 >= end {
				delete(left, tp)
				if err := c.Pause(tp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// header returns the value of r's last header named key, or nil.
func header(r *commitlog.Record, key string) []byte {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value
		}
	}
	return nil
}

// resume rebuilds the run's table from the target (the offset-syncs
// topic, then the partitions past their last sync point), writes the
// sync points it found, and returns where the source continues.
func (r *mirrorRun) resume(ctx context.Context) (map[commitlog.TopicPartition]int64, error) {
	m := r.m
	target := &m.cfg.Target
	t := newMirrorTable()
	syncTP := commitlog.TopicPartition{Topic: m.syncTopic}
	starts, ends, err := target.offsets(ctx, m.syncTopic, 1)
	if err != nil {
		return nil, err
	}
	if starts[0] < ends[0] {
		err := scan(ctx, target, map[commitlog.TopicPartition]int64{syncTP: starts[0]}, map[commitlog.TopicPartition]int64{syncTP: ends[0]}, func(rec *commitlog.Record) error {
			if sr, ok := decodeSync(rec); ok && m.topics[sr.tp.Topic] {
				t.load(sr)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("commitlog: kafka: mirror %q: read %s on %s: %w", m.cfg.Name, m.syncTopic, target.Name, err)
		}
	}
	from := map[commitlog.TopicPartition]int64{}
	upTo := map[commitlog.TopicPartition]int64{}
	for _, topic := range m.cfg.Topics {
		starts, ends, err := target.offsets(ctx, topic, r.parts[topic])
		if err != nil {
			return nil, err
		}
		for i := range r.parts[topic] {
			tp := commitlog.TopicPartition{Topic: topic, Partition: i}
			f := starts[i]
			t.mu.Lock()
			if pp := t.parts[tp]; pp != nil && pp.copied {
				f = max(f, pp.last.d+1)
			}
			t.mu.Unlock()
			if f < ends[i] {
				from[tp], upTo[tp] = f, ends[i]
			}
		}
	}
	source := []byte(m.cfg.Source.Name)
	err = scan(ctx, target, from, upTo, func(rec *commitlog.Record) error {
		if m.crash("resume") {
			r.crashNow()
			return errCrash
		}
		if string(header(rec, MirrorSourceHeader)) != string(source) {
			return nil
		}
		off := header(rec, MirrorOffsetHeader)
		if len(off) != 8 {
			return nil
		}
		tp := commitlog.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
		p := syncPoint{s: int64(binary.BigEndian.Uint64(off)), d: rec.Offset}
		t.mu.Lock()
		pp := t.parts[tp]
		behind := pp != nil && pp.copied && p.s <= pp.last.s
		t.mu.Unlock()
		if behind {
			m.logger.Warn("mirror: a copied record on the target repeats an earlier source offset; ignored",
				"mirror", m.cfg.Name, "partition", tp, "source_offset", p.s, "target_offset", p.d)
			return nil
		}
		t.advance(tp, p)
		return nil
	})
	if err != nil {
		if errors.Is(err, errCrash) {
			return nil, err
		}
		return nil, fmt.Errorf("commitlog: kafka: mirror %q: scan %s: %w", m.cfg.Name, target.Name, err)
	}
	t.mu.Lock()
	for _, pp := range t.parts {
		pp.acked = 0 // counted from the copy on (see skipped)
	}
	t.mu.Unlock()
	r.table = t
	if recs := t.take(true); len(recs) > 0 {
		if err := r.writeSyncs(ctx, recs); err != nil {
			return nil, err
		}
	}
	return t.next(), nil
}

// writeSyncs writes recs to the offset-syncs topic and waits for their
// acknowledgement.
func (r *mirrorRun) writeSyncs(ctx context.Context, recs []syncRecord) error {
	out := make([]*commitlog.Record, len(recs))
	for i, sr := range recs {
		out[i] = encodeSync(sr)
		out[i].Topic = r.m.syncTopic
	}
	if err := r.prod.ProduceSync(ctx, out...); err != nil {
		return fmt.Errorf("commitlog: kafka: mirror %q: write sync points to %s: %w", r.m.cfg.Name, r.m.syncTopic, err)
	}
	r.table.markWritten(recs)
	r.m.syncs.Add(int64(len(recs)))
	return nil
}

// syncLoop writes sync points, commits progress and checkpoints groups,
// until the run ends (r.final: after a last round).
func (r *mirrorRun) syncLoop() {
	defer close(r.syncDone)
	tick := time.NewTicker(r.m.cfg.CheckpointInterval)
	defer tick.Stop()
	for {
		periodic, final := false, false
		var reply chan error
		select {
		case <-r.syncWake:
		case <-tick.C:
			periodic = true
		case reply = <-r.checkpoint:
			periodic = true
		case <-r.final:
			periodic, final = true, true
		case <-r.syncCtx.Done():
			return
		}
		ctx, cancel := r.syncCtx, context.CancelFunc(func() {})
		if final {
			ctx, cancel = context.WithTimeout(r.syncCtx, shutdownTimeout)
		}
		ckErr, err := r.syncRound(ctx, periodic)
		cancel()
		if reply != nil {
			reply <- cmp.Or(err, ckErr)
		}
		if err != nil {
			if !errors.Is(err, errCrash) {
				r.fail(err)
			}
			return
		}
		if final {
			return
		}
	}
}

// syncRound writes the sync points due and, if periodic, commits the
// progress and checkpoints the groups. err ends the run; ckErr (a failed
// commit or checkpoint, retried next round) does not.
func (r *mirrorRun) syncRound(ctx context.Context, periodic bool) (ckErr, err error) {
	m := r.m
	if recs := r.table.take(periodic); len(recs) > 0 {
		if m.crash("acked") {
			r.crashNow()
			return nil, errCrash
		}
		if err := r.writeSyncs(ctx, recs); err != nil {
			return nil, err
		}
	}
	if !periodic {
		return nil, nil
	}
	if offs := r.table.toCommit(); len(offs) > 0 {
		if m.crash("synced") {
			r.crashNow()
			return nil, errCrash
		}
		if cerr := r.cons.CommitOffsets(ctx, offs); cerr != nil {
			m.logger.Warn("mirror: commit of the progress to the source failed; retried at the next checkpoint", "mirror", m.cfg.Name, "err", cerr)
			ckErr = fmt.Errorf("commitlog: kafka: mirror %q: commit progress to group %s on %s: %w", m.cfg.Name, m.cfg.Name, m.cfg.Source.Name, cerr)
		} else {
			r.table.setCommitted(offs)
		}
	}
	if gerr := m.checkpointGroups(ctx); gerr != nil {
		m.logger.Warn("mirror: group checkpoint failed; retried at the next one", "mirror", m.cfg.Name, "err", gerr)
		ckErr = errors.Join(ckErr, gerr)
	}
	return ckErr, nil
}

// Checkpoint does at once what Run does every CheckpointInterval: while
// Run runs, writes the latest sync point of every partition that moved,
// commits the progress to the source and translates the groups' offsets
// onto the target; otherwise only the last, with the last Run's tables.
// It blocks until done or ctx ends. Errors: those of the commit and of
// the groups' descriptions and resets (joined), the context's.
func (m *Mirror) Checkpoint(ctx context.Context) error {
	if r := m.run.Load(); r != nil {
		reply := make(chan error, 1)
		select {
		case r.checkpoint <- reply:
			select {
			case err := <-reply:
				return err
			case <-r.syncDone:
				return fmt.Errorf("%w: mirror %q: Run ended during Checkpoint", commitlog.ErrClosed, m.cfg.Name)
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-r.syncDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return m.checkpointGroups(ctx)
}

// checkpointGroups translates the committed offsets of the groups onto
// the target.
func (m *Mirror) checkpointGroups(ctx context.Context) error {
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	t := m.table.Load()
	if t == nil {
		return nil
	}
	groups := m.cfg.Groups
	if groups == nil {
		all, err := m.cfg.Source.Admin.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("commitlog: kafka: mirror %q: list groups of %s: %w", m.cfg.Name, m.cfg.Source.Name, err)
		}
		groups = slices.DeleteFunc(all, func(g string) bool { return g == m.cfg.Name })
	}
	var errs []error
	for _, g := range groups {
		if err := m.checkpointGroup(ctx, t, g); err != nil {
			errs = append(errs, fmt.Errorf("commitlog: kafka: mirror %q: checkpoint group %s: %w", m.cfg.Name, g, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Mirror) checkpointGroup(ctx context.Context, t *mirrorTable, g string) error {
	sd, err := m.cfg.Source.Admin.DescribeGroup(ctx, g)
	if errors.Is(err, commitlog.ErrUnknownGroup) {
		return nil
	}
	if err != nil {
		return err
	}
	want := map[commitlog.TopicPartition]int64{}
	for _, pl := range sd.Partitions {
		if !m.topics[pl.Topic] || pl.Committed < 0 {
			continue
		}
		if d, ok := t.translate(pl.TopicPartition, pl.Committed); ok {
			want[pl.TopicPartition] = d
		}
	}
	if len(want) == 0 {
		return nil
	}
	cur := map[commitlog.TopicPartition]int64{}
	td, err := m.cfg.Target.Admin.DescribeGroup(ctx, g)
	switch {
	case errors.Is(err, commitlog.ErrUnknownGroup):
	case err != nil:
		return err
	case len(td.Members) > 0:
		return nil // the group is active on the target: its offsets are its own
	default:
		for _, pl := range td.Partitions {
			if pl.Committed >= 0 {
				cur[pl.TopicPartition] = pl.Committed
			}
		}
	}
	for _, tp := range slices.SortedFunc(maps.Keys(want), compareTPs) {
		d := want[tp]
		if c, ok := cur[tp]; ok && c >= d {
			continue // only forward
		}
		_, err := m.cfg.Target.Admin.ResetGroupOffsets(ctx, g, commitlog.ExactOffset(d), tp)
		if errors.Is(err, commitlog.ErrGroupNotEmpty) {
			return nil // a member joined meanwhile
		}
		if err != nil {
			return err
		}
		m.checkpoints.Add(1)
	}
	return nil
}
