package histcheck

import (
	"fmt"
	"math"
	"slices"
)

// This file is what a Recorder keeps: not the events themselves but, as
// they arrive, the facts Check needs. Every record seen (acknowledged,
// polled, or in a final read) becomes a version: a value at an offset of
// a partition, with the range of eras (the spans between crashes) in which
// it was seen. Facts that need no later event to be judged (two values at
// one offset within an era, a poll going backwards, a commit regressing)
// are noted when they happen; everything that depends on options or on
// later events is decided by Check. Memory is per record and per send,
// not per event: a poll or a final read adds nothing for records already
// known.

type sendStatus uint8

const (
	sendPending sendStatus = iota
	sendOK
	sendOKNotDurable
	sendFailed
	sendUnknown
	sendLate // completed after a crash: unknown
)

var sendStatusNames = [...]string{"pending", "ok", "ok-not-durable", "fail", "unknown", "late"}

func (s sendStatus) String() string { return sendStatusNames[s] }

type commitStatus uint8

const (
	commitPending commitStatus = iota
	commitOK
	commitOKNotDurable
	commitFailed
	commitUnknown
	commitLate // completed after a crash: unknown
)

var commitStatusNames = [...]string{"pending", "ok", "ok-not-durable", "fail", "unknown", "late"}

func (s commitStatus) String() string { return commitStatusNames[s] }

type srcKind uint8

const (
	srcAck   srcKind = iota + 1 // n: the send's index
	srcPoll                     // n: the consumer's epoch
	srcFinal                    // n: the final read's index
)

// source says where a version was seen.
type source struct {
	n    int64
	proc int32 // producer or consumer name; -1 for a final read
	era  int32
	kind srcKind
}

// version flags.
const (
	verPolled     uint8 = 1 << iota // returned by a poll
	verFinal                        // in a final read
	verReappeared                   // seen again after it was found lost (reported once)
)

// version is one value seen at one offset of one partition.
type version struct {
	value   string
	offset  int64
	src     source // the first observation; src.era is the first era it was seen in
	part    int32
	prev    int32 // the version seen at this offset before this one; -1: none
	last    int32 // the last era it was seen in
	lost    int32 // the era in which it was found missing or overwritten; -1: not lost
	durEra  int32 // the era of its first durable acknowledgement; -1: none
	pollEra int32 // the era in which it was first polled; -1: never
	seenIn  int32 // the last final read that held it; -1: none
	ack     int32 // the send that acknowledged it; -1: none
	flags   uint8
}

// lostInfo says how a version was found lost.
type lostInfo struct {
	src source // the observation that showed it
	by  int32  // the version that overwrote it; -1: missing from the final read src.n
}

// valueInfo is what is known of one value.
type valueInfo struct {
	send int32 // the send of the value; -1: never sent
	ver  int32 // the first version holding it; -1: never seen
}

type partState struct {
	p       Partition
	offsets offsetIndex // offset -> the latest version seen there
	finals  []int32     // the partition's final reads, in order
}

// offsetIndex maps offsets to versions: in a slice for the offsets from 0
// on (logs are dense), in a map for offsets far past those, so that one
// absurd offset costs one entry.
type offsetIndex struct {
	dense     []int32 // -1: none
	sparse    map[int64]int32
	sparseMin int64 // the lowest offset in sparse, when it is not empty
}

func (x *offsetIndex) get(off int64) (int32, bool) {
	if off >= 0 && off < int64(len(x.dense)) {
		vi := x.dense[off]
		return vi, vi >= 0
	}
	vi, ok := x.sparse[off]
	return vi, ok
}

func (x *offsetIndex) set(off int64, vi int32) {
	if off >= 0 && off < int64(len(x.dense)) {
		x.dense[off] = vi
		return
	}
	if off >= 0 && off < 2*int64(len(x.dense))+1024 {
		for int64(len(x.dense)) < off {
			x.dense = append(x.dense, -1)
		}
		x.dense = append(x.dense, vi)
		if len(x.sparse) > 0 && x.sparseMin < int64(len(x.dense)) {
			x.sparseMin = math.MaxInt64
			for o, v := range x.sparse { // move what now falls in the dense range
				if o >= 0 && o < int64(len(x.dense)) {
					x.dense[o] = v
					delete(x.sparse, o)
				} else if o >= 0 {
					x.sparseMin = min(x.sparseMin, o)
				}
			}
		}
		return
	}
	if x.sparse == nil {
		x.sparse = map[int64]int32{}
	}
	if off >= 0 && (len(x.sparse) == 0 || off < x.sparseMin) {
		x.sparseMin = off
	}
	x.sparse[off] = vi
}

// sorted returns the offsets present, in increasing order.
func (x *offsetIndex) sorted() []int64 {
	var out []int64
	for off, vi := range x.dense {
		if vi >= 0 {
			out = append(out, int64(off))
		}
	}
	start := len(out)
	for off := range x.sparse {
		out = append(out, off)
	}
	slices.Sort(out[start:])
	if start > 0 && len(out) > start && out[start] < out[start-1] {
		slices.Sort(out) // negative sparse offsets
	}
	return out
}

type finalRec struct {
	start, end int64
	seq        int64
	part, era  int32
}

type sendRec struct {
	values    []string
	base      int64 // the acknowledged base offset; -1: none
	floor     int64 // the highest offset acknowledged to the same producer on the same partition in the same era before this send was invoked; -1: none
	ackTime   int64 // Unix nanoseconds
	proc      int32
	part      int32
	era       int32 // the era of the invocation
	floorSend int32 // the send that set floor
	status    sendStatus
}

type orderKey struct{ proc, part int32 }

type orderState struct {
	last int64
	era  int32
	send int32
}

type commitRec struct {
	offset  int64
	floor   int64 // the offset no acknowledgement may go below, as of the invocation; -1: none
	seq     int64 // the completion's sequence number
	group   int32
	part    int32
	era     int32
	floorBy int32 // the commit that set floor, or floorReset
	status  commitStatus
}

// floorReset in floorBy: the floor was set by ResetCommit.
const floorReset = -2

type groupPart struct{ group, part int32 }

// commitState is a group's commits of one partition so far.
type commitState struct {
	eraMax int64 // highest acknowledged in era eraOf (or reset to)
	durMax int64 // highest acknowledged durable, across eras (or reset to)
	eraOf  int32
	eraBy  int32
	durBy  int32
	hasEra bool
	hasDur bool
}

// floor returns the offset an acknowledgement in era may not go below,
// and what set it; -1 when none.
func (s commitState) floor(era int32) (int64, int32) {
	floor, by := int64(-1), int32(-1)
	if s.hasDur {
		floor, by = s.durMax, s.durBy
	}
	if s.hasEra && s.eraOf == era && s.eraMax > floor {
		floor, by = s.eraMax, s.eraBy
	}
	return floor, by
}

type finalCommitRec struct {
	offset  int64
	floor   int64
	seq     int64
	group   int32
	part    int32
	era     int32
	floorBy int32
	ok      bool
}

type pollKey struct {
	epoch          int64
	consumer, part int32
}

type position struct {
	last int64 // the last offset polled, or the seek offset - 1
	seq  int64 // the event that set it
	seek bool  // set by Seek
}

// pollFact is a poll that went backwards, or skipped offsets (judged by
// Check: a skip is an anomaly only if a record is known in between).
type pollFact struct {
	from, to int64
	epoch    int64 // the consumer's epoch, or the final read's index
	toVer    int32 // the version polled at to
	consumer int32 // -1: a final read
	part     int32
	era      int32
	gap      bool // skipped offsets; else went backwards
	samePoll bool // from and to in the same poll
	seek     bool // from is a seek's offset - 1
}

// conflictFact is two values at one offset within an era, or a lost
// version seen again.
type conflictFact struct {
	a, b     int32 // a: the earlier version; b: the later one (== a when a reappeared)
	src      source
	reappear bool
}

type dupFact struct{ a, b int32 } // one value in two versions

type orderFact struct{ send, prev int32 }

// regressionFact is a commit acknowledged below its floor (commit >= 0),
// or a committed offset found after recovery below it (final >= 0).
type regressionFact struct{ commit, final int32 }

type history struct {
	seq        int64 // events so far
	era        int32 // crashes so far
	crashTimes []int64
	names      map[string]int32 // producer, consumer and group names
	nameList   []string
	parts      map[Partition]int32
	partList   []partState
	versions   []version
	values     map[string]valueInfo
	lost       map[int32]lostInfo // by version
	sends      []sendRec
	order      map[orderKey]orderState
	commits    []commitRec
	commitSt   map[groupPart]commitState
	fcommits   []finalCommitRec
	finals     []finalRec
	positions  map[pollKey]position // of the current era

	conflicts   []conflictFact
	dups        []dupFact
	orderFacts  []orderFact
	pollFacts   []pollFact
	regressions []regressionFact
	invalid     []string

	polled     int // records returned by polls
	finalReads int // records in final reads
}

func newHistory() *history {
	return &history{
		names:     map[string]int32{},
		parts:     map[Partition]int32{},
		values:    map[string]valueInfo{},
		lost:      map[int32]lostInfo{},
		order:     map[orderKey]orderState{},
		commitSt:  map[groupPart]commitState{},
		positions: map[pollKey]position{},
	}
}

func (h *history) invalidf(format string, args ...any) {
	h.invalid = append(h.invalid, fmt.Sprintf(format, args...))
}

func (h *history) name(s string) int32 {
	i, ok := h.names[s]
	if !ok {
		i = int32(len(h.nameList))
		h.names[s] = i
		h.nameList = append(h.nameList, s)
	}
	return i
}

func (h *history) partition(p Partition) int32 {
	i, ok := h.parts[p]
	if !ok {
		i = int32(len(h.partList))
		h.parts[p] = i
		h.partList = append(h.partList, partState{p: p})
	}
	return i
}

// observe records that v was seen at off of partition pi, and returns the
// version holding it there.
func (h *history) observe(pi int32, off int64, v string, src source) int32 {
	ps := &h.partList[pi]
	cur, ok := ps.offsets.get(off)
	if !ok {
		vi := h.newVersion(pi, off, v, src, -1)
		ps.offsets.set(off, vi)
		return vi
	}
	for i := cur; i >= 0; i = h.versions[i].prev {
		ver := &h.versions[i]
		if ver.value != v {
			continue
		}
		if ver.lost >= 0 {
			if ver.flags&verReappeared == 0 {
				ver.flags |= verReappeared
				h.conflicts = append(h.conflicts, conflictFact{a: i, b: i, src: src, reappear: true})
			}
		} else if ver.last < src.era {
			ver.last = src.era
		}
		return i
	}
	// A new value at off.
	vi := h.newVersion(pi, off, v, src, cur)
	ps.offsets.set(off, vi)
	if c := &h.versions[cur]; c.lost < 0 {
		if c.last == src.era {
			h.conflicts = append(h.conflicts, conflictFact{a: cur, b: vi, src: src})
		} else {
			// The offset was reused after a crash: the old record was
			// lost in a crash since it was last seen. Check judges
			// whether it could be.
			c.lost = src.era
			h.lost[cur] = lostInfo{src: src, by: vi}
		}
	}
	return vi
}

func (h *history) newVersion(pi int32, off int64, v string, src source, prev int32) int32 {
	vi := int32(len(h.versions))
	h.versions = append(h.versions, version{value: v, offset: off, src: src, part: pi, prev: prev,
		last: src.era, lost: -1, durEra: -1, pollEra: -1, seenIn: -1, ack: -1})
	info, ok := h.values[v]
	switch {
	case !ok:
		h.values[v] = valueInfo{send: -1, ver: vi}
	case info.ver < 0:
		info.ver = vi
		h.values[v] = info
	default:
		h.dups = append(h.dups, dupFact{a: info.ver, b: vi})
	}
	return vi
}

func (h *history) send(producer string, p Partition, values []string) int32 {
	h.seq++
	idx := int32(len(h.sends))
	rec := sendRec{values: slices.Clone(values), base: -1, floor: -1, floorSend: -1,
		proc: h.name(producer), part: h.partition(p), era: h.era}
	if len(values) == 0 {
		h.invalidf("%s sent no values to %s", producer, p)
	}
	for _, v := range values {
		info, ok := h.values[v]
		switch {
		case !ok:
			h.values[v] = valueInfo{send: idx, ver: -1}
		case info.send < 0:
			info.send = idx
			h.values[v] = info
		default:
			first := rec
			if info.send != idx {
				first = h.sends[info.send]
			}
			h.invalidf("value %q sent twice: by %s to %s, then by %s to %s (values must be unique)",
				v, h.nameList[first.proc], h.partList[first.part].p, producer, p)
		}
	}
	if st, ok := h.order[orderKey{rec.proc, rec.part}]; ok && st.era == h.era {
		rec.floor, rec.floorSend = st.last, st.send
	}
	h.sends = append(h.sends, rec)
	return idx
}

// sendName names send idx in messages.
func (h *history) sendName(idx int32) string {
	s := &h.sends[idx]
	return fmt.Sprintf("%s's send of %s to %s", h.nameList[s.proc], quoteValues(s.values), h.partList[s.part].p)
}

// commitName names commit idx in messages.
func (h *history) commitName(idx int32) string {
	c := &h.commits[idx]
	return fmt.Sprintf("%s's commit of %d for %s", h.nameList[c.group], c.offset, h.partList[c.part].p)
}

// quoteValues quotes up to 3 values.
func quoteValues(vs []string) string {
	switch {
	case len(vs) == 1:
		return fmt.Sprintf("%q", vs[0])
	case len(vs) <= 3:
		return fmt.Sprintf("%q", vs)
	}
	return fmt.Sprintf("%d values %q...%q", len(vs), vs[0], vs[len(vs)-1])
}

// complete records the outcome of send idx, and reports whether it
// acknowledged records.
func (h *history) complete(idx int32, st sendStatus, base, at int64) bool {
	h.seq++
	rec := &h.sends[idx]
	if rec.era != h.era {
		rec.status = sendLate
		return false
	}
	rec.status = st
	if st != sendOK && st != sendOKNotDurable {
		return false
	}
	if base < 0 {
		h.invalidf("%s acknowledged at offset %d", h.sendName(idx), base)
		rec.status = sendUnknown
		return false
	}
	rec.base, rec.ackTime = base, at
	src := source{kind: srcAck, proc: rec.proc, n: int64(idx), era: h.era}
	for i, v := range rec.values {
		ver := &h.versions[h.observe(rec.part, base+int64(i), v, src)]
		if ver.ack < 0 {
			ver.ack = idx
		}
		if st == sendOK && ver.durEra < 0 {
			ver.durEra = h.era
		}
	}
	if len(rec.values) == 0 {
		return true
	}
	last := base + int64(len(rec.values)) - 1
	if rec.floor >= 0 && base <= rec.floor {
		h.orderFacts = append(h.orderFacts, orderFact{send: idx, prev: rec.floorSend})
	}
	key := orderKey{rec.proc, rec.part}
	if o, ok := h.order[key]; !ok || o.era != h.era || last > o.last {
		h.order[key] = orderState{last: last, era: h.era, send: idx}
	}
	return true
}

func (h *history) poll(consumer string, epoch int64, records []Read) {
	h.seq++
	ci := h.name(consumer)
	src := source{kind: srcPoll, proc: ci, n: epoch, era: h.era}
	for _, rd := range records {
		pi := h.partition(rd.Partition)
		if rd.Offset < 0 {
			h.invalidf("%s polled %q at offset %d of %s", consumer, rd.Value, rd.Offset, rd.Partition)
			continue
		}
		vi := h.observe(pi, rd.Offset, rd.Value, src)
		ver := &h.versions[vi]
		ver.flags |= verPolled
		if ver.pollEra < 0 && ver.lost < 0 {
			ver.pollEra = h.era
		}
		h.polled++
		key := pollKey{epoch: epoch, consumer: ci, part: pi}
		if pos, ok := h.positions[key]; ok && (rd.Offset <= pos.last || rd.Offset > pos.last+1) {
			h.pollFacts = append(h.pollFacts, pollFact{from: pos.last, to: rd.Offset, epoch: epoch, toVer: vi,
				consumer: ci, part: pi, era: h.era, gap: rd.Offset > pos.last, samePoll: pos.seq == h.seq, seek: pos.seek})
		}
		h.positions[key] = position{last: rd.Offset, seq: h.seq}
	}
}

func (h *history) seek(consumer string, epoch int64, p Partition, offset int64) {
	h.seq++
	key := pollKey{epoch: epoch, consumer: h.name(consumer), part: h.partition(p)}
	h.positions[key] = position{last: offset - 1, seq: h.seq, seek: true}
}

func (h *history) crash(at int64) {
	h.seq++
	h.era++
	h.crashTimes = append(h.crashTimes, at)
	clear(h.positions) // every epoch ends
}

func (h *history) final(p Partition, start, end int64, records []Read) {
	h.seq++
	pi := h.partition(p)
	fi := int32(len(h.finals))
	h.finals = append(h.finals, finalRec{start: start, end: end, seq: h.seq, part: pi, era: h.era})
	ps := &h.partList[pi]
	ps.finals = append(ps.finals, fi)
	if start < 0 || end < start {
		h.invalidf("final read of %s has start %d and end %d", p, start, end)
	}
	src := source{kind: srcFinal, proc: -1, n: int64(fi), era: h.era}
	prev := int64(-1)
	for _, rd := range records {
		if rd.Partition != p {
			h.invalidf("final read of %s holds %q of %s", p, rd.Value, rd.Partition)
			continue
		}
		if rd.Offset < start || rd.Offset >= end {
			h.invalidf("final read of %s [%d, %d) holds %q at offset %d", p, start, end, rd.Value, rd.Offset)
			continue
		}
		if rd.Offset <= prev {
			h.pollFacts = append(h.pollFacts, pollFact{from: prev, to: rd.Offset, epoch: int64(fi), toVer: -1,
				consumer: -1, part: pi, era: h.era, samePoll: true})
		}
		prev = rd.Offset
		ver := &h.versions[h.observe(pi, rd.Offset, rd.Value, src)]
		ver.flags |= verFinal
		ver.seenIn = fi
		h.finalReads++
	}
	// Everything known of the partition from start on and not in the
	// read is lost (retention explains what lies below start).
	missing := func(vi int32) {
		if ver := &h.versions[vi]; ver.seenIn != fi && ver.lost < 0 {
			ver.lost = h.era
			h.lost[vi] = lostInfo{src: src, by: -1}
		}
	}
	for off := max(start, 0); off < int64(len(ps.offsets.dense)); off++ {
		if vi := ps.offsets.dense[off]; vi >= 0 {
			missing(vi)
		}
	}
	for off, vi := range ps.offsets.sparse {
		if off >= start {
			missing(vi)
		}
	}
}

func (h *history) commit(group string, p Partition, offset int64) int32 {
	h.seq++
	idx := int32(len(h.commits))
	rec := commitRec{offset: offset, group: h.name(group), part: h.partition(p), era: h.era, seq: -1}
	if offset < 0 {
		h.invalidf("%s committed offset %d of %s", group, offset, p)
	}
	rec.floor, rec.floorBy = h.commitSt[groupPart{rec.group, rec.part}].floor(h.era)
	h.commits = append(h.commits, rec)
	return idx
}

func (h *history) completeCommit(idx int32, st commitStatus) {
	h.seq++
	rec := &h.commits[idx]
	if rec.era != h.era {
		rec.status = commitLate
		return
	}
	rec.status, rec.seq = st, h.seq
	if st != commitOK && st != commitOKNotDurable {
		return
	}
	if rec.floor >= 0 && rec.offset < rec.floor {
		h.regressions = append(h.regressions, regressionFact{commit: idx, final: -1})
	}
	key := groupPart{rec.group, rec.part}
	s := h.commitSt[key]
	if !s.hasEra || s.eraOf != h.era || rec.offset > s.eraMax {
		s.eraMax, s.eraOf, s.eraBy, s.hasEra = rec.offset, h.era, idx, true
	}
	if st == commitOK && (!s.hasDur || rec.offset > s.durMax) {
		s.durMax, s.durBy, s.hasDur = rec.offset, idx, true
	}
	h.commitSt[key] = s
}

func (h *history) resetCommit(group string, p Partition, offset int64) {
	h.seq++
	key := groupPart{h.name(group), h.partition(p)}
	h.commitSt[key] = commitState{eraMax: offset, durMax: offset, eraOf: h.era,
		eraBy: floorReset, durBy: floorReset, hasEra: true, hasDur: true}
}

func (h *history) finalCommit(group string, p Partition, offset int64, ok bool) {
	h.seq++
	idx := int32(len(h.fcommits))
	rec := finalCommitRec{offset: offset, seq: h.seq, group: h.name(group), part: h.partition(p), era: h.era, ok: ok}
	rec.floor, rec.floorBy = h.commitSt[groupPart{rec.group, rec.part}].floor(h.era)
	if rec.floor >= 0 && (!ok || offset < rec.floor) {
		h.regressions = append(h.regressions, regressionFact{commit: -1, final: idx})
	}
	h.fcommits = append(h.fcommits, rec)
}
