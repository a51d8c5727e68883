package commitlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// This file is a consumer-group history checker, in the manner of Jepsen's
// Kafka workload analysis (jepsen.tests.kafka, whose anomaly names it uses
// where they apply: inconsistent-offsets, duplicate, lost-write, G1a,
// poll-skip). checkGroupHistory verifies offline one history of a group's
// events (records produced, members joining, polling, committing, leaving,
// crashing, being evicted, and Log reopens), as TestGroupHistory records
// it; TestGroupHistoryCheckerCatches feeds the checker hand-made bad
// histories, to show that every check can fail.

// ghMargin keeps the checker's liveness checks away from the
// MaxPollInterval boundary, where the eviction timer and the member race.
const ghMargin = 500 * time.Millisecond

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

// checkGroupHistory checks h and returns the violations found (each
// starts with the name of its anomaly) and some counts.
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

	// Reads and acknowledged sends define offsets: an offset holds one
	// value, and a value one offset.
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
	// The applied order of commits: a partition's committed offsets never
	// go backwards.
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
