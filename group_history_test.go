package commitlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// This file is the consumer-group history checker of reliability.md C4c:
// a randomized workload of producers and group members (joining, polling,
// committing after processing, leaving, crashing, being evicted, coming
// back, across Log reopens) records every event in one history, and
// checkGroupHistory verifies the history offline. The workload runs in a
// testing/synctest bubble, so MaxPollInterval evictions happen on fake
// time; TestGroupHistoryCheckerCatches feeds the checker hand-made bad
// histories, to show that every check can fail.

const (
	ghTopic      = "t"
	ghGroup      = "g"
	ghPartitions = 6
	// ghMaxPoll is the members' MaxPollInterval. A member stalls for
	// ghStall to be evicted; otherwise it stays outside Poll for at most
	// about 1.3 s, far below it. ghMargin keeps the checker away from the
	// boundary, where the eviction timer and the member race.
	ghMaxPoll = 5 * time.Second
	ghStall   = ghMaxPoll + time.Second
	ghMargin  = 500 * time.Millisecond
)

type ghKind uint8

const (
	ghProduce    ghKind = iota // recs: acknowledged records
	ghNewLog                   // the Log was (re)opened: a fresh coordinator
	ghLogClosing               // Log.Close starts while members still run
	ghJoin                     // a consumer was created (member id)
	ghPollEnter                // Poll called
	ghPollExit                 // Poll returned recs or err
	ghAssigned                 // OnAssigned(tps); offsets: committed then (-1: none; absent: the Log had closed); hw
	ghRevoked                  // OnRevoked(tps)
	ghLost                     // OnLost(tps)
	ghCommit                   // a commit of offsets returned err; hw/durable after it
	ghClose                    // Consumer.Close returned err
	ghAbandon                  // the consumer was abandoned (crash) without Close
)

var ghKindNames = [...]string{"produce", "new-log", "log-closing", "join", "poll-enter", "poll-exit",
	"assigned", "revoked", "lost", "commit", "close", "abandon"}

func (k ghKind) String() string { return ghKindNames[k] }

// ghRec is one record as the history sees it.
type ghRec struct {
	tp     TopicPartition
	offset int64
	value  string
}

// ghEvent is one event of the history. at is the (fake) time it happened.
type ghEvent struct {
	seq     int
	kind    ghKind
	member  int
	at      time.Time
	tps     []TopicPartition
	recs    []ghRec
	offsets map[TopicPartition]int64
	hw      map[TopicPartition]int64
	durable map[TopicPartition]int64
	err     string // "" (success), "fenced", "closed", "timeout", or another error's text
	sync    SyncPolicy
}

func (e *ghEvent) String() string {
	return fmt.Sprintf("#%d %s member=%d t=%s", e.seq, e.kind, e.member, e.at.Format("15:04:05.000"))
}

// ghCommitted is one committed offset as written to __consumer_offsets.
type ghCommitted struct {
	tp     TopicPartition
	offset int64
}

// ghHistory is what the checker reads.
type ghHistory struct {
	events     []ghEvent
	maxPoll    time.Duration
	partitions []TopicPartition
	// finalHW is each partition's high watermark at the end, after the
	// final drain.
	finalHW map[TopicPartition]int64
	// offsetLog is the group's records of __consumer_offsets in log order
	// (the order in which commits were applied).
	offsetLog []ghCommitted
}

func ghErrClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrFenced):
		return "fenced"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return err.Error()
	}
}

// ghMember is the checker's model of one consumer.
type ghMember struct {
	owned  map[TopicPartition]bool
	zombie map[TopicPartition]bool // taken over after its eviction; OnLost must report them
	next   map[TopicPartition]int64
	polled map[TopicPartition][]int64 // polled in the current ownership, not yet committed
	inPoll bool
	// hasLeft says leftAt (when the last Poll returned) starts a liveness
	// interval: false before the first Poll and after ErrFenced (no
	// membership until the next Poll rejoins).
	hasLeft bool
	leftAt  time.Time
	lastGap time.Duration // the time outside Poll before the current/last Poll
}

// checkGroupHistory checks h and returns the violations found (each names
// the anomaly of C4c it is) and some counts.
func checkGroupHistory(h *ghHistory) (violations []string, stats map[string]int) {
	stats = map[string]int{}
	bad := func(e *ghEvent, format string, args ...any) {
		if len(violations) < 40 {
			where := "end"
			if e != nil {
				where = e.String()
			}
			violations = append(violations, where+": "+fmt.Sprintf(format, args...))
		}
	}

	// Reads and acknowledged sends define offsets (C4c steps 1-2).
	byOffset := map[TopicPartition]map[int64]string{}
	byValue := map[string]ghRec{}
	produced := map[string]bool{}
	define := func(e *ghEvent, r ghRec) {
		if byOffset[r.tp] == nil {
			byOffset[r.tp] = map[int64]string{}
		}
		if v, ok := byOffset[r.tp][r.offset]; ok && v != r.value {
			// Catches: a read returning another record than the one
			// acknowledged at that offset (misplaced batch, wrong cursor).
			bad(e, "inconsistent-offsets: %v@%d holds %q and %q", r.tp, r.offset, v, r.value)
		}
		byOffset[r.tp][r.offset] = r.value
		if o, ok := byValue[r.value]; ok && (o.tp != r.tp || o.offset != r.offset) {
			// Catches: a record stored twice (duplicate append, replayed
			// batch after recovery).
			bad(e, "duplicate: value %q is at %v@%d and at %v@%d", r.value, o.tp, o.offset, r.tp, r.offset)
		}
		byValue[r.value] = r
	}

	members := map[int]*ghMember{}
	member := func(id int) *ghMember {
		m := members[id]
		if m == nil {
			m = &ghMember{owned: map[TopicPartition]bool{}, zombie: map[TopicPartition]bool{},
				next: map[TopicPartition]int64{}, polled: map[TopicPartition][]int64{}}
			members[id] = m
		}
		return m
	}
	owner := map[TopicPartition]int{}
	// evictable says whether m has been outside Poll for MaxPollInterval:
	// then the coordinator may have evicted it and moved its partitions.
	evictable := func(m *ghMember, at time.Time) bool {
		if m.inPoll {
			return m.lastGap >= h.maxPoll
		}
		return m.hasLeft && at.Sub(m.leftAt) >= h.maxPoll
	}
	maxAcked := map[TopicPartition]int64{}           // highest acknowledged commit so far
	attempted := map[TopicPartition]map[int64]bool{} // every offset a commit tried
	ackedCommits := map[TopicPartition]map[int64]bool{}
	covered := map[TopicPartition]map[int64]bool{} // processed and then committed by the processor
	closing := false
	syncPolicy := SyncAlways
	forget := func(m *ghMember, id int, tp TopicPartition) {
		delete(m.owned, tp)
		delete(m.zombie, tp)
		delete(m.next, tp)
		delete(m.polled, tp)
		if owner[tp] == id {
			delete(owner, tp)
		}
	}

	for i := range h.events {
		e := &h.events[i]
		switch e.kind {
		case ghNewLog:
			// A new Log has a new coordinator: the old members are gone.
			members = map[int]*ghMember{}
			owner = map[TopicPartition]int{}
			closing = false
			syncPolicy = e.sync
		case ghLogClosing:
			closing = true
		case ghProduce:
			for _, r := range e.recs {
				define(e, r)
				produced[r.value] = true
			}
			stats["acked records"] += len(e.recs)
		case ghJoin:
			// Joining starts the MaxPollInterval clock, as leaving
			// Poll does.
			m := member(e.member)
			m.hasLeft, m.leftAt = true, e.at
			stats["consumers"]++
		case ghPollEnter:
			m := member(e.member)
			m.lastGap = 0
			if m.hasLeft {
				m.lastGap = e.at.Sub(m.leftAt)
			}
			m.inPoll = true
		case ghAssigned:
			m := member(e.member)
			for _, tp := range e.tps {
				if prev, ok := owner[tp]; ok && prev != e.member {
					pm := member(prev)
					if !evictable(pm, e.at) {
						// Catches: a partition given to a new owner
						// before its old owner revoked it (revoke
						// before assign), or two owners at once.
						bad(e, "two-owners: %v assigned while member %d owns it and was not outside Poll for MaxPollInterval", tp, prev)
					} else {
						stats["partitions taken from evicted members"]++
					}
					delete(pm.owned, tp)
					delete(pm.next, tp)
					delete(pm.polled, tp)
					pm.zombie[tp] = true
				}
				if m.owned[tp] {
					bad(e, "assigned %v, which it already owns", tp)
				}
				owner[tp] = e.member
				m.owned[tp] = true
				start, known := e.offsets[tp]
				if !known {
					// The Log closed before the member could read the
					// committed offset (ErrClosed): it reads nothing more.
					delete(m.next, tp)
					m.polled[tp] = nil
					continue
				}
				if start < 0 {
					start = 0 // no committed offset: ResetEarliest, and nothing is ever deleted
				}
				if start < maxAcked[tp] {
					// Catches: a new owner starting from an offset older
					// than an acknowledged commit (lost commit, stale
					// in-memory offsets, commit not replayed on Open).
					bad(e, "commit-regression: %v starts at committed offset %d below the acknowledged commit %d", tp, start, maxAcked[tp])
				}
				if hw, ok := e.hw[tp]; ok && start > hw {
					bad(e, "commit-ahead: %v committed offset %d above its high watermark %d", tp, start, hw)
				}
				m.next[tp] = start
				m.polled[tp] = nil
			}
			stats["assignments"] += len(e.tps)
		case ghRevoked:
			m := member(e.member)
			for _, tp := range e.tps {
				if !m.owned[tp] {
					// Catches: OnRevoked for a partition the member did
					// not own, or after it was evicted (it must get
					// OnLost then: its commits would fail).
					bad(e, "revoked %v, which it does not own (zombie: %v)", tp, m.zombie[tp])
				}
				forget(m, e.member, tp)
			}
		case ghLost:
			m := member(e.member)
			for _, tp := range e.tps {
				if !m.owned[tp] && !m.zombie[tp] {
					bad(e, "lost %v, which it never owned", tp)
				}
				forget(m, e.member, tp)
			}
			stats["lost partitions"] += len(e.tps)
		case ghPollExit:
			m := member(e.member)
			m.inPoll = false
			m.hasLeft, m.leftAt = true, e.at
			switch e.err {
			case "", "timeout":
				if m.lastGap >= h.maxPoll+ghMargin && !closing {
					// Catches: a member that stopped polling for
					// longer than MaxPollInterval and was not
					// evicted (liveness timer broken).
					bad(e, "not-evicted: Poll after %v outside Poll did not report ErrFenced", m.lastGap)
				}
			case "fenced":
				stats["evictions"]++
				if m.lastGap < h.maxPoll {
					// Catches: a live member evicted early.
					bad(e, "spurious-eviction: ErrFenced after only %v outside Poll", m.lastGap)
				}
				if len(m.owned)+len(m.zombie) > 0 {
					// Catches: an evicted member not told (OnLost)
					// about partitions it lost.
					bad(e, "ErrFenced without OnLost for owned %v / taken over %v",
						slices.Collect(maps.Keys(m.owned)), slices.Collect(maps.Keys(m.zombie)))
				}
				m.hasLeft = false // out of the group until the next Poll rejoins
			case "closed":
				if !closing {
					bad(e, "Poll returned ErrClosed while the Log was open")
				}
			default:
				bad(e, "Poll failed: %s", e.err)
			}
			for _, r := range e.recs {
				define(e, r)
				if !m.owned[r.tp] {
					// Catches: records of a partition returned before
					// OnAssigned, after OnRevoked, or to a zombie.
					bad(e, "record %v@%d returned to a member that does not own the partition", r.tp, r.offset)
					continue
				}
				if want := m.next[r.tp]; r.offset != want {
					// Catches: a gap (a record skipped), reordering,
					// a duplicate within one ownership, or a first
					// record not at the committed offset (reset
					// instead of resume, off-by-one commit).
					bad(e, "poll-skip/nonmonotonic-poll: %v got offset %d, expected %d", r.tp, r.offset, want)
				}
				m.next[r.tp] = r.offset + 1
				m.polled[r.tp] = append(m.polled[r.tp], r.offset)
			}
			stats["polled records"] += len(e.recs)
		case ghCommit:
			m := member(e.member)
			gap := e.at.Sub(m.leftAt)
			for tp, off := range e.offsets {
				if attempted[tp] == nil {
					attempted[tp] = map[int64]bool{}
				}
				attempted[tp][off] = true
			}
			switch e.err {
			case "":
				stats["commits"]++
				if m.hasLeft && gap >= h.maxPoll+ghMargin && !closing {
					// Catches: a commit accepted from a member that
					// was evicted (zombie fencing broken).
					bad(e, "zombie-commit: accepted %v %v after the member was outside Poll", e.offsets, gap)
				}
				for tp, off := range e.offsets {
					if !m.owned[tp] {
						// Catches: a commit of a partition the member
						// does not own (revoked, or taken over).
						bad(e, "zombie-commit: commit of %v=%d accepted from a member that does not own it", tp, off)
					}
					if d, ok := e.durable[tp]; !ok || off > d {
						// Catches: a committed offset pointing past data a
						// crash could lose (commit without syncing data).
						bad(e, "commit-ahead: %v committed %d above its durable offset %d", tp, off, d)
					}
					if hw := e.hw[tp]; off > hw {
						bad(e, "commit-ahead: %v committed %d above its high watermark %d", tp, off, hw)
					}
					if syncPolicy == SyncAlways && e.hw[tp] > e.durable[tp] {
						bad(e, "high watermark %d of %v above its durable offset %d under SyncAlways", e.hw[tp], tp, e.durable[tp])
					}
					maxAcked[tp] = max(maxAcked[tp], off)
					if ackedCommits[tp] == nil {
						ackedCommits[tp] = map[int64]bool{}
					}
					ackedCommits[tp][off] = true
					if covered[tp] == nil {
						covered[tp] = map[int64]bool{}
					}
					var rest []int64
					for _, o := range m.polled[tp] {
						if o < off {
							covered[tp][o] = true
						} else {
							rest = append(rest, o)
						}
					}
					m.polled[tp] = rest
				}
			case "fenced":
				stats["fenced commits"]++
				owned := true
				for tp := range e.offsets {
					owned = owned && m.owned[tp]
				}
				if owned && gap < h.maxPoll {
					// Catches: a live owner's commit refused.
					bad(e, "spurious-fence: commit %v refused after only %v outside Poll", e.offsets, gap)
				}
			case "closed":
				if !closing {
					bad(e, "commit returned ErrClosed while the Log was open")
				}
			default:
				bad(e, "commit %v failed: %s", e.offsets, e.err)
			}
		case ghClose:
			m := member(e.member)
			if e.err != "" {
				bad(e, "Close failed: %s", e.err)
			}
			if len(m.owned) > 0 {
				// Catches: Close leaving without OnRevoked/OnLost.
				bad(e, "Close returned without revoking %v", slices.Collect(maps.Keys(m.owned)))
			}
			for tp := range m.owned {
				forget(m, e.member, tp)
			}
			delete(members, e.member)
		case ghAbandon:
			stats["crashed consumers"]++
		}
	}

	// Final checks.
	for v := range byValue {
		if !produced[v] {
			// Catches: a read of a record nobody acknowledged (G1a,
			// invented data).
			bad(nil, "G1a: read value %q, which no acknowledged send wrote", v)
		}
	}
	for _, tp := range h.partitions {
		hw := h.finalHW[tp]
		missing := 0
		for off := int64(0); off < hw; off++ {
			if !covered[tp][off] {
				if missing < 5 {
					// Catches: a record no member processed before
					// committing past it (lost-write / unseen: a
					// skipped record, a commit beyond what was
					// processed, a lost acknowledged write).
					bad(nil, "lost: %v@%d (%q) was never processed and committed", tp, off, byOffset[tp][off])
				}
				missing++
			}
		}
		for off := range byOffset[tp] {
			if off >= hw {
				bad(nil, "lost-write: %v@%d was acknowledged or read but is above the final high watermark %d", tp, off, hw)
			}
		}
	}
	// The applied order of commits (C4c step 6).
	last := map[TopicPartition]int64{}
	inLog := map[TopicPartition]map[int64]bool{}
	for i, c := range h.offsetLog {
		if prev, ok := last[c.tp]; ok && c.offset < prev {
			// Catches: a commit applied after a newer one (a stale
			// owner's commit landing after the new owner's).
			bad(nil, "commit-regression: __consumer_offsets record %d sets %v to %d after %d", i, c.tp, c.offset, prev)
		}
		last[c.tp] = c.offset
		if !attempted[c.tp][c.offset] {
			// Catches: a committed value nobody asked for (garbled
			// offset records).
			bad(nil, "__consumer_offsets record %d sets %v to %d, which no commit asked for", i, c.tp, c.offset)
		}
		if inLog[c.tp] == nil {
			inLog[c.tp] = map[int64]bool{}
		}
		inLog[c.tp][c.offset] = true
	}
	for tp, offs := range ackedCommits {
		for off := range offs {
			if !inLog[tp][off] {
				// Catches: an acknowledged commit that was never
				// written (or lost on reopen).
				bad(nil, "lost-commit: acknowledged commit %v=%d is not in __consumer_offsets", tp, off)
			}
		}
	}
	for _, tp := range h.partitions {
		if last[tp] != h.finalHW[tp] {
			bad(nil, "the final committed offset of %v is %d, not its high watermark %d", tp, last[tp], h.finalHW[tp])
		}
	}
	return violations, stats
}

// ghRecorder collects the history. Events of different goroutines are
// ordered by its lock, which is consistent with the library's own
// ordering: a callback or Poll result is recorded on the member's
// goroutine before (or after) the library step that follows (precedes) it.
type ghRecorder struct {
	mu     sync.Mutex
	events []ghEvent
}

func (r *ghRecorder) add(e ghEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.seq = len(r.events)
	e.at = time.Now()
	r.events = append(r.events, e)
}

// ghWorkload runs the randomized workload against one Log.
type ghWorkload struct {
	t        *testing.T
	seed     uint64
	balancer Balancer
	opts     *Options
	rec      ghRecorder
	nextID   atomic.Int64
}

func (w *ghWorkload) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(w.seed, stream))
}

func (w *ghWorkload) open() *Log {
	l, err := Open(testDir, w.opts)
	require.NoError(w.t, err)
	w.rec.add(ghEvent{kind: ghNewLog, sync: w.opts.Sync})
	return l
}

// run runs phases of producers and members, with the Log closed and
// reopened between some (once while members still run), then a final
// drain, and returns the history.
func (w *ghWorkload) run() *ghHistory {
	t := w.t
	ctx := context.Background()
	rng := w.rng(0)
	l := w.open()
	_, err := l.CreateTopic(ctx, ghTopic, TopicConfig{Partitions: ghPartitions})
	require.NoError(t, err)
	const phases, producers, slots, perProducer = 4, 3, 4, 50
	stream := uint64(1)
	for phase := range phases {
		if phase > 0 && rng.IntN(2) == 0 {
			require.NoError(t, l.Close())
			l = w.open()
		}
		closeWhileRunning := phase == 1 || rng.IntN(4) == 0
		var stop, closing atomic.Bool
		var prodWG, memberWG sync.WaitGroup
		for i := range producers {
			r := w.rng(stream)
			stream++
			prodWG.Go(func() { w.produce(l, phase, i, r, perProducer) })
		}
		for range slots {
			r := w.rng(stream)
			stream++
			memberWG.Go(func() {
				for !stop.Load() {
					if !w.life(l, r, &stop, &closing) {
						return
					}
					time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
				}
			})
		}
		prodWG.Wait()
		time.Sleep(4 * time.Second) // members catch up (or not: the drain reads the rest)
		if closeWhileRunning {
			closing.Store(true)
			w.rec.add(ghEvent{kind: ghLogClosing})
			require.NoError(t, l.Close())
		}
		stop.Store(true)
		memberWG.Wait()
		if closeWhileRunning {
			l = w.open()
		}
	}

	// Final drain: a fresh Log (no zombies) and a fresh member that reads
	// from the committed offsets to the end, committing as it goes.
	require.NoError(t, l.Close())
	l = w.open()
	w.drain(l)
	h := &ghHistory{maxPoll: ghMaxPoll, finalHW: map[TopicPartition]int64{}}
	for id := range int32(ghPartitions) {
		tp := TopicPartition{ghTopic, id}
		h.partitions = append(h.partitions, tp)
		h.finalHW[tp] = mustPartition(t, l, ghTopic, id).HighWatermark()
	}
	h.offsetLog = ghOffsetLog(t, l, ghGroup)
	require.NoError(t, l.Check(ctx))
	require.NoError(t, l.Close())
	w.rec.mu.Lock()
	h.events = slices.Clone(w.rec.events)
	w.rec.mu.Unlock()
	return h
}

// produce appends n records with unique values in small bursts: producers
// 0 and 1 through a Producer (key-hashed partitions), producer 2 straight
// to random partitions with Partition.Append.
func (w *ghWorkload) produce(l *Log, phase, id int, rng *rand.Rand, n int) {
	ctx := context.Background()
	prod, err := l.NewProducer(ProducerConfig{})
	if err != nil {
		w.t.Errorf("NewProducer: %v", err)
		return
	}
	defer func() {
		if err := prod.Close(); err != nil {
			w.t.Errorf("Producer.Close: %v", err)
		}
	}()
	for i := 0; i < n; {
		k := min(1+rng.IntN(5), n-i)
		recs := make([]Record, k)
		for j := range recs {
			recs[j] = Record{Topic: ghTopic, Key: fmt.Appendf(nil, "k%d", rng.IntN(40)), Value: fmt.Appendf(nil, "v%d-%d-%d", phase, id, i+j)}
		}
		if id == 2 {
			p, err := l.partition(TopicPartition{ghTopic, int32(rng.IntN(ghPartitions))})
			if err != nil {
				w.t.Errorf("partition: %v", err)
				return
			}
			res, err := p.Append(ctx, recs)
			if err != nil {
				w.t.Errorf("Append: %v", err)
				return
			}
			for j := range recs {
				recs[j].Partition, recs[j].Offset = p.ID(), res.BaseOffset+int64(j)
			}
		} else {
			ptrs := make([]*Record, k)
			for j := range recs {
				ptrs[j] = &recs[j]
			}
			if err := prod.ProduceSync(ctx, ptrs...); err != nil {
				w.t.Errorf("ProduceSync: %v", err)
				return
			}
		}
		e := ghEvent{kind: ghProduce, member: -1}
		for _, r := range recs {
			e.recs = append(e.recs, ghRec{TopicPartition{r.Topic, r.Partition}, r.Offset, string(r.Value)})
		}
		w.rec.add(e)
		i += k
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}
}

// config returns a member's configuration, with callbacks that record.
func (w *ghWorkload) config(l *Log, id int, maxPollRecords int) ConsumerConfig {
	cfg := ConsumerConfig{Group: ghGroup, Topics: []string{ghTopic}, Balancer: w.balancer, DisableAutoCommit: true,
		MaxPollRecords: maxPollRecords, MaxPollInterval: ghMaxPoll}
	cfg.OnAssigned = func(_ context.Context, c *Consumer, tps []TopicPartition) {
		// The committed offsets now are where the member must resume:
		// the previous owner has released (or lost) the partitions,
		// and no one else may commit them. (Not with the callback's
		// context: it is Poll's, which may have ended.)
		committed, err := c.Committed(context.Background(), tps...)
		closed := errors.Is(err, ErrClosed) && l.isClosed() // the Log closed under the member
		if err != nil && !closed {
			w.t.Errorf("member %d: Committed in OnAssigned: %v", id, err)
		}
		e := ghEvent{kind: ghAssigned, member: id, tps: tps, offsets: map[TopicPartition]int64{}, hw: map[TopicPartition]int64{}}
		for _, tp := range tps {
			if closed {
				continue // no offset: unknown, and the member reads nothing more
			}
			e.offsets[tp] = -1
			if off, ok := committed[tp]; ok {
				e.offsets[tp] = off
			}
			if p, err := l.partition(tp); err == nil {
				e.hw[tp] = p.HighWatermark()
			}
		}
		w.rec.add(e)
	}
	cfg.OnRevoked = func(_ context.Context, _ *Consumer, tps []TopicPartition) {
		w.rec.add(ghEvent{kind: ghRevoked, member: id, tps: tps})
	}
	cfg.OnLost = func(_ context.Context, _ *Consumer, tps []TopicPartition) {
		w.rec.add(ghEvent{kind: ghLost, member: id, tps: tps})
	}
	return cfg
}

func (w *ghWorkload) poll(c *Consumer, id int, timeout time.Duration) ([]Record, error) {
	w.rec.add(ghEvent{kind: ghPollEnter, member: id})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	recs, err := c.Poll(ctx)
	cancel()
	e := ghEvent{kind: ghPollExit, member: id, err: ghErrClass(err)}
	for _, r := range recs {
		e.recs = append(e.recs, ghRec{TopicPartition{r.Topic, r.Partition}, r.Offset, string(r.Value)})
	}
	w.rec.add(e)
	return recs, err
}

// commit commits recs as processed, in one of three ways, and records it.
func (w *ghWorkload) commit(l *Log, c *Consumer, id int, recs []Record, how int) {
	ctx := context.Background()
	offsets := map[TopicPartition]int64{}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		offsets[tp] = max(offsets[tp], r.Offset+1)
	}
	e := ghEvent{kind: ghCommit, member: id}
	at := time.Now()
	var err error
	switch how {
	case 0:
		err = c.CommitRecords(ctx, recs...)
	case 1:
		err = c.CommitOffsets(ctx, offsets)
	default:
		// Commit commits every assigned partition's position: every
		// polled record has been processed, so the positions are the
		// offsets above (and, for the other partitions, positions
		// already committed or their starting point).
		for _, tp := range c.Assignment() {
			if pos, perr := c.Position(tp); perr == nil {
				offsets[tp] = pos
			}
		}
		err = c.Commit(ctx)
	}
	e.offsets, e.err = offsets, ghErrClass(err)
	if err == nil {
		e.hw, e.durable = map[TopicPartition]int64{}, map[TopicPartition]int64{}
		for tp := range offsets {
			if p, perr := l.partition(tp); perr == nil {
				e.hw[tp], e.durable[tp] = p.HighWatermark(), p.DurableOffset()
			}
		}
	}
	w.rec.mu.Lock()
	e.seq = len(w.rec.events)
	e.at = at // the liveness that matters is at the call
	w.rec.events = append(w.rec.events, e)
	w.rec.mu.Unlock()
}

func (w *ghWorkload) close(c *Consumer, id int) {
	err := c.Close()
	w.rec.add(ghEvent{kind: ghClose, member: id, err: ghErrClass(err)})
}

// life is one consumer's life: join, poll/process/commit a random number
// of times, sometimes stalling past MaxPollInterval (evicted; the next Poll
// rejoins) or processing so slowly that its commit comes after its
// eviction, then Close, or crash (abandon it, maybe after committing part
// of a batch). It returns false once the Log is closed.
func (w *ghWorkload) life(l *Log, rng *rand.Rand, stop, closing *atomic.Bool) bool {
	id := int(w.nextID.Add(1))
	c, err := l.NewConsumer(w.config(l, id, 1+rng.IntN(25)))
	if err != nil {
		if !closing.Load() {
			w.t.Errorf("member %d: NewConsumer: %v", id, err)
		}
		return false
	}
	w.rec.add(ghEvent{kind: ghJoin, member: id})
	if rng.IntN(100) < 3 {
		// Crash before the first Poll: evicted after MaxPollInterval too.
		w.rec.add(ghEvent{kind: ghAbandon, member: id})
		return true
	}
	polled := false
	for i, n := 0, 5+rng.IntN(40); i < n && !stop.Load(); i++ {
		switch x := rng.IntN(100); {
		case x < 4 && polled:
			time.Sleep(ghStall) // evicted: the next Poll reports ErrFenced, then rejoins
		case x < 12:
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		}
		recs, err := w.poll(c, id, 300*time.Millisecond)
		polled = true
		if errors.Is(err, ErrClosed) {
			break
		}
		if len(recs) == 0 {
			continue
		}
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond) // processing
		switch x := rng.IntN(100); {
		case x < 3:
			time.Sleep(ghStall) // too slow: evicted while processing, the commit is fenced
		case x < 6:
			// Crash in the middle of the batch: commit what was
			// processed, then vanish.
			if k := rng.IntN(len(recs)); k > 0 {
				w.commit(l, c, id, recs[:k], 0)
			}
			w.rec.add(ghEvent{kind: ghAbandon, member: id})
			return true
		}
		w.commit(l, c, id, recs, rng.IntN(3))
	}
	if rng.IntN(2) == 0 {
		w.close(c, id)
	} else {
		w.rec.add(ghEvent{kind: ghAbandon, member: id})
	}
	return !closing.Load()
}

// drain reads everything from the committed offsets to the end with one
// member, committing as it goes.
func (w *ghWorkload) drain(l *Log) {
	id := int(w.nextID.Add(1))
	c, err := l.NewConsumer(w.config(l, id, 200))
	require.NoError(w.t, err)
	w.rec.add(ghEvent{kind: ghJoin, member: id})
	for range 2000 {
		recs, err := w.poll(c, id, time.Second)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			w.t.Errorf("drain: Poll: %v", err)
			break
		}
		if len(recs) > 0 {
			w.commit(l, c, id, recs, 0)
			continue
		}
		done := len(c.Assignment()) == ghPartitions
		for _, tp := range c.Assignment() {
			pos, err := c.Position(tp)
			require.NoError(w.t, err)
			done = done && pos == mustPartition(w.t, l, tp.Topic, tp.Partition).HighWatermark()
		}
		if done {
			break
		}
	}
	w.close(c, id)
}

// ghOffsetLog returns group's records of __consumer_offsets, in log order.
func ghOffsetLog(t testing.TB, l *Log, group string) []ghCommitted {
	t.Helper()
	topic, err := l.Topic(offsetsTopicName)
	if errors.Is(err, ErrUnknownTopic) {
		return nil
	}
	require.NoError(t, err)
	p, err := topic.Partition(offsetsPartitionFor(group, topic.NumPartitions()))
	require.NoError(t, err)
	var out []ghCommitted
	for r, err := range p.Scan(context.Background(), p.StartOffset()) {
		require.NoError(t, err)
		g, tp, ok, err := decodeOffsetKey(r.Key)
		require.NoError(t, err)
		if !ok || g != group {
			continue
		}
		require.NotNil(t, r.Value, "no tombstones in this workload")
		co, err := decodeOffsetValue(r.Value)
		require.NoError(t, err)
		out = append(out, ghCommitted{tp, co.Offset})
	}
	return out
}

// TestGroupHistory runs the randomized group workload and checks its
// history: every acknowledged record processed and committed (no loss with
// commit-after-process), per-member per-partition order without gaps from
// the committed offset, consistent offsets, commits that never go
// backwards nor point above the high watermark or the durable data, one
// owner per partition at a time (revoke before assign elsewhere, evicted
// members fenced), evictions exactly when MaxPollInterval is exceeded.
//
// COMMITLOG_GROUP_HISTORY_SEEDS=n adds n more seeds of each balancer (for
// longer runs).
func TestGroupHistory(t *testing.T) {
	type testCase struct {
		name     string
		seed     uint64
		balancer Balancer
		sync     SyncPolicy
	}
	cases := []testCase{
		{"cooperative-sticky/seed=1", 1, nil, SyncAlways},
		{"cooperative-sticky/seed=2/SyncNever", 2, nil, SyncNever},
		{"range-eager/seed=3", 3, RangeBalancer(), SyncAlways},
	}
	if n, err := strconv.Atoi(os.Getenv("COMMITLOG_GROUP_HISTORY_SEEDS")); err == nil {
		for i := range uint64(n) {
			seed := 100 + i
			cases = append(cases, testCase{fmt.Sprintf("cooperative-sticky/seed=%d", seed), seed, nil, SyncPolicy(i % 3)},
				testCase{fmt.Sprintf("range-eager/seed=%d", seed), seed, RangeBalancer(), SyncPolicy(i % 3)})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := testOptions(vfs.NewMem())
				opts.Sync = tc.sync
				w := &ghWorkload{t: t, seed: tc.seed, balancer: tc.balancer, opts: opts}
				h := w.run()
				violations, stats := checkGroupHistory(h)
				t.Logf("%d events; %v", len(h.events), stats)
				for _, v := range violations {
					t.Error(v)
				}
				if len(violations) > 0 {
					t.Logf("history tail:\n%s", ghDump(h.events, 60))
				}
				// The workload must exercise what the checks are about.
				require.Greater(t, stats["evictions"], 0, "no member was evicted")
				require.Greater(t, stats["crashed consumers"], 0)
				require.Greater(t, stats["commits"], 10)
			})
		})
	}
}

// ghDump formats the last n events (diagnostics).
func ghDump(events []ghEvent, n int) string {
	var b strings.Builder
	for _, e := range events[max(0, len(events)-n):] {
		fmt.Fprintf(&b, "%s tps=%v recs=%d offsets=%v err=%q\n", e.String(), e.tps, len(e.recs), e.offsets, e.err)
	}
	return b.String()
}

// TestGroupHistoryCheckerCatches feeds checkGroupHistory small bad
// histories: each check must report its anomaly (and a good history
// nothing).
func TestGroupHistoryCheckerCatches(t *testing.T) {
	tp0, tp1 := TopicPartition{ghTopic, 0}, TopicPartition{ghTopic, 1}
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	// b builds a history; times are in seconds from t0.
	type b struct{ events []ghEvent }
	add := func(h *b, sec float64, e ghEvent) {
		e.seq = len(h.events)
		e.at = t0.Add(time.Duration(sec * float64(time.Second)))
		h.events = append(h.events, e)
	}
	produce := func(h *b, sec float64, tp TopicPartition, offs ...int64) {
		e := ghEvent{kind: ghProduce}
		for _, o := range offs {
			e.recs = append(e.recs, ghRec{tp, o, fmt.Sprintf("%v/%d", tp, o)})
		}
		add(h, sec, e)
	}
	rec := func(tp TopicPartition, o int64) ghRec { return ghRec{tp, o, fmt.Sprintf("%v/%d", tp, o)} }
	assign := func(h *b, sec float64, m int, tp TopicPartition, committed int64) {
		add(h, sec, ghEvent{kind: ghAssigned, member: m, tps: []TopicPartition{tp},
			offsets: map[TopicPartition]int64{tp: committed}, hw: map[TopicPartition]int64{tp: 10}})
	}
	poll := func(h *b, sec float64, m int, err string, recs ...ghRec) {
		add(h, sec, ghEvent{kind: ghPollEnter, member: m})
		add(h, sec, ghEvent{kind: ghPollExit, member: m, recs: recs, err: err})
	}
	commit := func(h *b, sec float64, m int, tp TopicPartition, off int64, err string) {
		add(h, sec, ghEvent{kind: ghCommit, member: m, offsets: map[TopicPartition]int64{tp: off}, err: err,
			hw: map[TopicPartition]int64{tp: 10}, durable: map[TopicPartition]int64{tp: 10}})
	}
	// good: member 1 reads tp0 0..1 and commits 2; member 2 joins, 1
	// revokes, 2 resumes at 2.
	good := func() *b {
		h := &b{}
		add(h, 0, ghEvent{kind: ghNewLog})
		produce(h, 0, tp0, 0, 1, 2)
		add(h, 0, ghEvent{kind: ghJoin, member: 1})
		add(h, 0, ghEvent{kind: ghPollEnter, member: 1})
		assign(h, 0, 1, tp0, -1)
		add(h, 0, ghEvent{kind: ghPollExit, member: 1, recs: []ghRec{rec(tp0, 0), rec(tp0, 1)}})
		commit(h, 0.1, 1, tp0, 2, "")
		add(h, 1, ghEvent{kind: ghJoin, member: 2})
		add(h, 1, ghEvent{kind: ghPollEnter, member: 1})
		add(h, 1, ghEvent{kind: ghRevoked, member: 1, tps: []TopicPartition{tp0}})
		add(h, 1, ghEvent{kind: ghPollExit, member: 1})
		add(h, 1, ghEvent{kind: ghPollEnter, member: 2})
		assign(h, 1, 2, tp0, 2)
		add(h, 1, ghEvent{kind: ghPollExit, member: 2, recs: []ghRec{rec(tp0, 2)}})
		commit(h, 1.1, 2, tp0, 3, "")
		return h
	}
	hist := func(h *b, log []ghCommitted, hw int64) *ghHistory {
		return &ghHistory{events: h.events, maxPoll: ghMaxPoll, partitions: []TopicPartition{tp0},
			finalHW: map[TopicPartition]int64{tp0: hw}, offsetLog: log}
	}
	goodLog := []ghCommitted{{tp0, 2}, {tp0, 3}}
	v, _ := checkGroupHistory(hist(good(), goodLog, 3))
	require.Empty(t, v, "a good history")

	for _, tc := range []struct {
		name string
		make func() *ghHistory
		want string
	}{
		{"two values at one offset", func() *ghHistory {
			h := good()
			add(h, 2, ghEvent{kind: ghProduce, recs: []ghRec{{tp0, 1, "other"}}})
			return hist(h, goodLog, 3)
		}, "inconsistent-offsets"},
		{"one value at two offsets", func() *ghHistory {
			h := good()
			add(h, 2, ghEvent{kind: ghProduce, recs: []ghRec{{tp1, 0, rec(tp0, 0).value}}})
			return hist(h, goodLog, 3)
		}, "duplicate"},
		{"record of a partition not owned", func() *ghHistory {
			h := good()
			poll(h, 2, 1, "", rec(tp0, 2))
			return hist(h, goodLog, 3)
		}, "does not own the partition"},
		{"gap in polled offsets", func() *ghHistory {
			h := good()
			produce(h, 2, tp0, 3, 4)
			poll(h, 2, 2, "", rec(tp0, 4))
			return hist(h, goodLog, 3)
		}, "poll-skip"},
		{"resume not at the committed offset", func() *ghHistory {
			h := &b{}
			add(h, 0, ghEvent{kind: ghNewLog})
			produce(h, 0, tp0, 0, 1, 2)
			add(h, 0, ghEvent{kind: ghPollEnter, member: 1})
			assign(h, 0, 1, tp0, 1)
			add(h, 0, ghEvent{kind: ghPollExit, member: 1, recs: []ghRec{rec(tp0, 2)}})
			return hist(h, nil, 3)
		}, "expected 1"},
		{"assigned before the owner revoked", func() *ghHistory {
			h := good()
			assign(h, 2, 3, tp0, 3)
			return hist(h, goodLog, 3)
		}, "two-owners"},
		{"committed offset read below an acknowledged commit", func() *ghHistory {
			h := good()
			add(h, 2, ghEvent{kind: ghPollEnter, member: 2})
			add(h, 2, ghEvent{kind: ghRevoked, member: 2, tps: []TopicPartition{tp0}})
			add(h, 2, ghEvent{kind: ghPollExit, member: 2})
			assign(h, 2, 3, tp0, 2)
			return hist(h, goodLog, 3)
		}, "commit-regression"},
		{"commits applied backwards", func() *ghHistory {
			return hist(good(), []ghCommitted{{tp0, 3}, {tp0, 2}}, 3)
		}, "commit-regression"},
		{"acknowledged commit missing", func() *ghHistory {
			return hist(good(), []ghCommitted{{tp0, 3}}, 3)
		}, "lost-commit"},
		{"commit above durable data", func() *ghHistory {
			h := good()
			add(h, 2, ghEvent{kind: ghCommit, member: 2, offsets: map[TopicPartition]int64{tp0: 3},
				hw: map[TopicPartition]int64{tp0: 3}, durable: map[TopicPartition]int64{tp0: 2}})
			return hist(h, goodLog, 3)
		}, "commit-ahead"},
		{"record never processed", func() *ghHistory {
			h := good()
			produce(h, 2, tp0, 3)
			return hist(h, goodLog, 4)
		}, "lost: t-0@3"},
		{"commit beyond what was processed skips a record", func() *ghHistory {
			h := good()
			produce(h, 2, tp0, 3, 4)
			poll(h, 2, 2, "", rec(tp0, 3))
			commit(h, 2, 2, tp0, 5, "")
			return hist(h, append(slices.Clone(goodLog), ghCommitted{tp0, 5}), 5)
		}, "lost: t-0@4"},
		{"stalled member not evicted", func() *ghHistory {
			h := good()
			poll(h, 10, 2, "timeout")
			return hist(h, goodLog, 3)
		}, "not-evicted"},
		{"live member evicted", func() *ghHistory {
			h := good()
			add(h, 1.2, ghEvent{kind: ghPollEnter, member: 2})
			add(h, 1.2, ghEvent{kind: ghLost, member: 2, tps: []TopicPartition{tp0}})
			add(h, 1.2, ghEvent{kind: ghPollExit, member: 2, err: "fenced"})
			return hist(h, goodLog, 3)
		}, "spurious-eviction"},
		{"evicted member's commit accepted", func() *ghHistory {
			h := good()
			commit(h, 8, 2, tp0, 3, "")
			return hist(h, goodLog, 3)
		}, "zombie-commit"},
		{"taken-over partition committed by its old owner", func() *ghHistory {
			h := good()
			add(h, 7, ghEvent{kind: ghPollEnter, member: 3})
			assign(h, 7, 3, tp0, 3) // member 2 was outside Poll since 1 s: evicted
			add(h, 7, ghEvent{kind: ghPollExit, member: 3})
			add(h, 7, ghEvent{kind: ghPollEnter, member: 2})
			add(h, 7, ghEvent{kind: ghRevoked, member: 2, tps: []TopicPartition{tp0}})
			add(h, 7, ghEvent{kind: ghPollExit, member: 2, err: "fenced"})
			return hist(h, goodLog, 3)
		}, "revoked t-0, which it does not own"},
		{"Close without revoke", func() *ghHistory {
			h := good()
			add(h, 2, ghEvent{kind: ghClose, member: 2})
			return hist(h, goodLog, 3)
		}, "without revoking"},
		{"read of an unacknowledged value", func() *ghHistory {
			h := good()
			poll(h, 2, 2, "", ghRec{tp0, 3, "invented"})
			return hist(h, goodLog, 4)
		}, "G1a"},
	} {
		v, _ := checkGroupHistory(tc.make())
		require.NotEmpty(t, v, tc.name)
		require.Contains(t, strings.Join(v, "\n"), tc.want, tc.name)
	}
}

// TestGroupNeverPolledMemberDoesNotStallBalancers: a consumer that joins its group
// (NewConsumer) and dies before its first Poll is evicted after
// MaxPollInterval like one that stopped polling; otherwise it would keep
// its target partitions forever (cooperative: consumed by no one; eager:
// the whole group waits for it).
func TestGroupNeverPolledMemberDoesNotStallBalancers(t *testing.T) {
	for _, bal := range []Balancer{CooperativeStickyBalancer(), RangeBalancer()} {
		t.Run(bal.Name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := openTest(t, vfs.NewMem(), nil)
				all := groupTopic(t, l, 4)
				cfg := ConsumerConfig{Group: "g", Topics: []string{"t"}, Balancer: bal, MaxPollRecords: 1, MaxPollInterval: time.Minute}
				a, err := l.NewConsumer(cfg)
				require.NoError(t, err)
				pollN(t, a, 1)
				require.Equal(t, all, a.Assignment())
				// b joins, then its process dies before its first Poll.
				_, err = l.NewConsumer(cfg)
				require.NoError(t, err)
				// a keeps polling, for two MaxPollIntervals.
				for range 120 {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					_, err := a.Poll(ctx)
					cancel()
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
				}
				assignment := a.Assignment()
				require.NoError(t, a.Close())
				require.NoError(t, l.Close())
				require.Equal(t, all, assignment,
					"a member that never polled for 2 minutes (MaxPollInterval 1 minute) was not evicted: its partitions are stuck")
			})
		})
	}
}
