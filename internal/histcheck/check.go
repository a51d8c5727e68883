package histcheck

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Options say what a history may legitimately show. The zero value
// checks what holds of any single-node log: durability as each
// acknowledgement states it (Ok or OkNotDurable), losses only as
// suffixes, skips reported everywhere, unseen records as warnings. Set
// the fields that match the system under test.
type Options struct {
	// DurableReads says consumers see only durable records (SyncAlways: a
	// consumer never reads past the durable end), so every polled record
	// must survive every later crash, as a durable acknowledgement must.
	DurableReads bool
	// LossWindow, when positive, bounds what a crash may lose of records
	// acknowledged not durable (OkNotDurable): only those acknowledged
	// less than LossWindow before the crash, by the Recorder's clock
	// (Config.Now). For SyncInterval(d), use d plus the time a sync may
	// take and the delay between the crash and Crash being recorded. Zero
	// allows any lost suffix (SyncNever).
	LossWindow time.Duration
	// Compacted lists topics whose partitions may lose records in the
	// middle (log compaction): there, offsets a poll skips are not
	// reported, and a record missing from a final read is not reported
	// lost (the checker cannot tell compaction from loss without keys).
	// A record overwritten by another at its offset still is.
	Compacted []string
	// PipelinedSends says producers keep the order of sends in flight at
	// the same time (idempotent producers pipelining batches): each
	// producer's acknowledged sends to a partition must get increasing
	// offsets in the order they were invoked. By default only sends
	// invoked after the earlier one's acknowledgement are compared.
	PipelinedSends bool
	// RequireSeen makes unseen an error: every acknowledged record must
	// be returned by some poll or final read. By default it is a warning.
	RequireSeen bool
	// Allow lists kinds to report as warnings rather than errors: the
	// anomalies a mode tolerates.
	Allow []Kind
	// MaxReported is how many anomalies of each kind Result.Err lists.
	// The default is 10.
	MaxReported int
}

// Check checks everything recorded so far and returns what it found. It
// may be called any number of times, also while recording goes on; it
// blocks recording while it runs. It takes time and memory linear in the
// number of records and sends (sorting aside), not in the number of
// events.
func (r *Recorder) Check(opts Options) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{maxReported: opts.MaxReported}
	if res.maxReported <= 0 {
		res.maxReported = 10
	}
	h := r.historyLocked()
	if h == nil {
		res.Anomalies = []Anomaly{{Kind: KindInvalidHistory, Offset: -1,
			Detail: "this Recorder writes its events to Config.Output and keeps none: check the Recorder that decoded them"}}
		return res
	}
	c := &checker{h: h, o: opts, res: res, compacted: map[string]bool{}}
	for _, t := range opts.Compacted {
		c.compacted[t] = true
	}
	c.count()
	c.losses()
	c.conflicts()
	c.duplicates()
	c.reads()
	c.polls()
	c.sendOrder()
	c.commitRegressions()
	c.commitsAhead()
	c.unseen()
	for _, s := range h.invalid {
		c.add(KindInvalidHistory, -1, -1, "", "%s", s)
	}
	c.finish()
	return res
}

type checker struct {
	h         *history
	o         Options
	res       *Result
	compacted map[string]bool
	dupsOf    map[string][]int32 // value -> its versions other than the first; built on first use
	sorted    map[int32][]int64  // partition -> its known offsets, sorted; built on first use
}

func (c *checker) add(k Kind, pi int32, off int64, value, format string, args ...any) {
	a := Anomaly{Kind: k, Offset: off, Value: value, Detail: fmt.Sprintf(format, args...)}
	if pi >= 0 {
		a.Partition = c.h.partList[pi].p
	}
	c.res.Anomalies = append(c.res.Anomalies, a)
}

func (c *checker) finish() {
	var warn [numKinds]bool
	warn[KindUnseen] = !c.o.RequireSeen
	for _, k := range c.o.Allow {
		if k < numKinds {
			warn[k] = true
		}
	}
	for i := range c.res.Anomalies {
		c.res.Anomalies[i].Warning = warn[c.res.Anomalies[i].Kind]
	}
	slices.SortFunc(c.res.Anomalies, func(a, b Anomaly) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Partition.Topic, b.Partition.Topic),
			cmp.Compare(a.Partition.ID, b.Partition.ID), cmp.Compare(a.Offset, b.Offset),
			cmp.Compare(a.Value, b.Value), cmp.Compare(a.Detail, b.Detail))
	})
}

func (c *checker) count() {
	h, res := c.h, c.res
	for i := range h.sends {
		s := &h.sends[i]
		res.Sends++
		switch s.status {
		case sendOK, sendOKNotDurable:
			res.SendsOK++
			res.Acked += len(s.values)
		case sendFailed:
			res.SendsFailed++
		default:
			res.SendsUnknown++
		}
	}
	for i := range h.commits {
		res.Commits++
		if st := h.commits[i].status; st == commitOK || st == commitOKNotDurable {
			res.CommitsOK++
		}
	}
	res.Polled = h.polled
	res.FinalReads = len(h.finals)
	res.FinalRecords = h.finalReads
	res.Partitions = len(h.partList)
	res.Crashes = len(h.crashTimes)
}

// Descriptions for messages.

// when names an era: "" without crashes, " before crash 1", " after crash 3".
func (c *checker) when(era int32) string {
	switch {
	case len(c.h.crashTimes) == 0:
		return ""
	case era == 0:
		return " before crash 1"
	}
	return fmt.Sprintf(" after crash %d", era)
}

func (c *checker) srcDesc(s source) string {
	h := c.h
	switch s.kind {
	case srcAck:
		rec := &h.sends[s.n]
		how := "acknowledged durable"
		if rec.status == sendOKNotDurable {
			how = "acknowledged (not durable)"
		}
		return fmt.Sprintf("%s to %s%s", how, h.nameList[rec.proc], c.when(s.era))
	case srcPoll:
		return fmt.Sprintf("polled by %s (epoch %d)%s", h.nameList[s.proc], s.n, c.when(s.era))
	case srcFinal:
		return "in " + c.finalDesc(int32(s.n))
	}
	return "seen"
}

// finalDesc names final read fi: "the final read [start, end) after crash 2".
func (c *checker) finalDesc(fi int32) string {
	f := &c.h.finals[fi]
	return fmt.Sprintf("the final read [%d, %d)%s", f.start, f.end, c.when(f.era))
}

// verDesc describes how version vi is known: by its acknowledgement if it
// has one, else by its first observation.
func (c *checker) verDesc(vi int32) string {
	v := &c.h.versions[vi]
	if v.ack >= 0 {
		return c.srcDesc(source{kind: srcAck, n: int64(v.ack), era: c.h.sends[v.ack].era})
	}
	return c.srcDesc(v.src)
}

// readDesc describes how version vi was read.
func (c *checker) readDesc(vi int32) string {
	v := &c.h.versions[vi]
	switch {
	case v.src.kind != srcAck:
		return c.srcDesc(v.src)
	case v.flags&verPolled != 0:
		return "polled" + c.when(v.pollEra)
	case v.seenIn >= 0:
		return c.srcDesc(source{kind: srcFinal, n: int64(v.seenIn), era: c.h.finals[v.seenIn].era})
	}
	return c.srcDesc(v.src)
}

// lostHow says how version vi was found lost.
func (c *checker) lostHow(vi int32) string {
	li := c.h.lost[vi]
	if li.by < 0 {
		return "missing from " + c.finalDesc(int32(li.src.n))
	}
	return fmt.Sprintf("overwritten by %q, %s", c.h.versions[li.by].value, c.srcDesc(li.src))
}

func (c *checker) at(vi int32) string {
	v := &c.h.versions[vi]
	return fmt.Sprintf("%s@%d", c.h.partList[v.part].p, v.offset)
}

// durableEra returns the era from which version v had to survive every
// crash, or -1.
func (c *checker) durableEra(v *version) int32 {
	d := v.durEra
	if c.o.DurableReads && v.pollEra >= 0 && (d < 0 || v.pollEra < d) {
		d = v.pollEra
	}
	return d
}

// losses judges every version found lost. A crash cuts a suffix of each
// partition's log; what follows is appended after the cut. So the loss of
// a record A (seen up to era A.last, found lost in era A.lost > A.last) is
// an anomaly if:
//   - no crash happened in between (A.lost == A.last);
//   - A had to survive: acknowledged durable (or polled, under
//     DurableReads);
//   - a record B above A was durable at a time A existed (B's durable era
//     within A's eras): the durable prefix includes A;
//   - a record B above A existed with A (B.first <= A.last) and survived
//     the crash that lost A (B.last >= A.lost): the loss is no suffix;
//   - A was acknowledged longer than LossWindow before the first crash
//     after A.last.
//
// The two conditions over B are answered sweeping each partition's
// versions by decreasing offset, with, for the higher offsets, the lowest
// version durable in each era, and a prefix-maximum tree over first eras
// of the last era seen.
func (c *checker) losses() {
	h := c.h
	hasLost := make([]bool, len(h.partList))
	anyLost := false
	for i := range h.versions {
		if h.versions[i].lost >= 0 {
			hasLost[h.versions[i].part] = true
			anyLost = true
		}
	}
	if !anyLost {
		return
	}
	buckets := make([][]int32, len(h.partList))
	for i := range h.versions {
		if p := h.versions[i].part; hasLost[p] {
			buckets[p] = append(buckets[p], int32(i))
		}
	}
	eras := len(h.crashTimes) + 1
	for _, b := range buckets {
		if len(b) == 0 {
			continue
		}
		slices.SortFunc(b, func(x, y int32) int { return cmp.Compare(h.versions[y].offset, h.versions[x].offset) })
		tree := newMaxTree(eras)
		durable := make([]int32, eras) // era -> lowest version above, durable in that era
		for i := range durable {
			durable[i] = -1
		}
		for i := 0; i < len(b); {
			off := h.versions[b[i]].offset
			j := i
			for j < len(b) && h.versions[b[j]].offset == off {
				j++
			}
			for _, vi := range b[i:j] {
				if h.versions[vi].lost >= 0 {
					c.judgeLoss(vi, tree, durable)
				}
			}
			for _, vi := range b[i:j] {
				v := &h.versions[vi]
				tree.update(v.src.era, v.last, vi)
				if d := c.durableEra(v); d >= 0 {
					durable[d] = vi
				}
			}
			i = j
		}
	}
}

func (c *checker) judgeLoss(vi int32, tree *maxTree, durable []int32) {
	h := c.h
	v := &h.versions[vi]
	if h.lost[vi].by < 0 && c.compacted[h.partList[v.part].p.Topic] {
		return
	}
	kind := KindLostRead
	if v.ack >= 0 {
		kind = KindLostWrite
	}
	report := func(format string, args ...any) {
		what := fmt.Sprintf("%q (%s) is %s: ", v.value, c.verDesc(vi), c.lostHow(vi))
		c.add(kind, v.part, v.offset, v.value, what+format, args...)
	}
	if v.lost == v.last {
		report("no crash happened in between")
		return
	}
	if d := c.durableEra(v); d >= 0 {
		if d == v.durEra {
			report("it was acknowledged durable")
		} else {
			report("it was polled%s, and reads are durable", c.when(d))
		}
		return
	}
	for e := v.src.era; e <= v.last; e++ {
		if w := durable[e]; w >= 0 {
			report("offset %d above it (%q, %s) was durable while it existed", h.versions[w].offset, h.versions[w].value, c.verDesc(w))
			return
		}
	}
	if last, w := tree.query(v.last); last >= v.lost {
		wv := &h.versions[w]
		report("offset %d above it (%q, %s) survived, seen%s: the loss is not a suffix of the partition",
			wv.offset, wv.value, c.verDesc(w), c.when(wv.last))
		return
	}
	if v.ack >= 0 {
		if window := c.o.LossWindow; window > 0 {
			age := time.Duration(h.crashTimes[v.last] - h.sends[v.ack].ackTime)
			if age > window {
				report("it was acknowledged %v before crash %d, outside the %v loss window", age, v.last+1, window)
				return
			}
		}
		c.res.AckedLost++
	}
}

// maxTree is a Fenwick tree over eras answering: among the versions
// inserted, the highest last era of those first seen in an era <= i.
type maxTree struct {
	last, ver []int32 // 1-based
}

func newMaxTree(n int) *maxTree {
	t := &maxTree{last: make([]int32, n+1), ver: make([]int32, n+1)}
	for i := range t.last {
		t.last[i] = -1
	}
	return t
}

func (t *maxTree) update(first, last, ver int32) {
	for k := int(first) + 1; k < len(t.last); k += k & -k {
		if last > t.last[k] {
			t.last[k], t.ver[k] = last, ver
		}
	}
}

func (t *maxTree) query(first int32) (last, ver int32) {
	last, ver = -1, -1
	for k := int(first) + 1; k > 0; k -= k & -k {
		if t.last[k] > last {
			last, ver = t.last[k], t.ver[k]
		}
	}
	return last, ver
}

func (c *checker) conflicts() {
	h := c.h
	for _, f := range h.conflicts {
		a := &h.versions[f.a]
		if f.reappear {
			c.add(KindInconsistentOffsets, a.part, a.offset, a.value, "%q (%s) was %s, but %s again",
				a.value, c.verDesc(f.a), c.lostHow(f.a), c.srcDesc(f.src))
			continue
		}
		b := &h.versions[f.b]
		era := "with no crash in between"
		if len(h.crashTimes) > 0 {
			era = "both" + c.when(f.src.era)
		}
		c.add(KindInconsistentOffsets, a.part, a.offset, b.value, "the offset holds %q (%s) and %q (%s), %s",
			a.value, c.verDesc(f.a), b.value, c.srcDesc(f.src), era)
	}
}

func (c *checker) duplicates() {
	h := c.h
	for _, f := range h.dups {
		a, b := &h.versions[f.a], &h.versions[f.b]
		readA, readB := a.flags&(verPolled|verFinal) != 0, b.flags&(verPolled|verFinal) != 0
		if readA == readB {
			c.add(KindDuplicate, b.part, b.offset, b.value, "%q is stored at %s (%s) and at %s (%s)",
				b.value, c.at(f.a), c.readDesc(f.a), c.at(f.b), c.readDesc(f.b))
			continue
		}
		ack, read := f.a, f.b
		if readA {
			ack, read = f.b, f.a
		}
		av := &h.versions[ack]
		c.add(KindWrongOffset, av.part, av.offset, av.value, "%q was %s at %s but read at %s (%s)",
			av.value, c.verDesc(ack), c.at(ack), c.at(read), c.readDesc(read))
	}
}

// readVersion returns a version of value v that a poll or final read
// returned, or -1.
func (c *checker) readVersion(v string, info valueInfo) int32 {
	if info.ver < 0 {
		return -1
	}
	if c.h.versions[info.ver].flags&(verPolled|verFinal) != 0 {
		return info.ver
	}
	if len(c.h.dups) == 0 {
		return -1
	}
	if c.dupsOf == nil {
		c.dupsOf = map[string][]int32{}
		for _, f := range c.h.dups {
			b := c.h.versions[f.b].value
			c.dupsOf[b] = append(c.dupsOf[b], f.b)
		}
	}
	for _, vi := range c.dupsOf[v] {
		if c.h.versions[vi].flags&(verPolled|verFinal) != 0 {
			return vi
		}
	}
	return -1
}

// reads reports values read whose send failed (G1a) or was never
// recorded (phantom).
func (c *checker) reads() {
	h := c.h
	for v, info := range h.values {
		if info.ver < 0 || info.send >= 0 && h.sends[info.send].status != sendFailed {
			continue
		}
		vi := c.readVersion(v, info)
		if vi < 0 {
			continue
		}
		ver := &h.versions[vi]
		if info.send < 0 {
			c.add(KindPhantom, ver.part, ver.offset, v, "%q was %s but never sent", v, c.readDesc(vi))
		} else {
			c.add(KindAbortedRead, ver.part, ver.offset, v, "%q was %s, but %s failed", v, c.readDesc(vi), h.sendName(info.send))
		}
	}
}

func (c *checker) polls() {
	h := c.h
	for _, f := range h.pollFacts {
		var who string
		if f.consumer < 0 {
			who = c.finalDesc(int32(f.epoch)) + " holds"
		} else {
			who = fmt.Sprintf("%s (epoch %d)%s polled", h.nameList[f.consumer], f.epoch, c.when(f.era))
		}
		prev := fmt.Sprintf("after offset %d", f.from)
		switch {
		case f.seek:
			prev = fmt.Sprintf("after seeking to offset %d", f.from+1)
		case f.samePoll && f.consumer >= 0:
			prev += " in the same poll"
		}
		value := ""
		if f.toVer >= 0 {
			value = h.versions[f.toVer].value
		}
		if !f.gap {
			c.add(KindNonmonotonicPoll, f.part, f.to, value, "%s offset %d %s", who, f.to, prev)
			continue
		}
		if c.compacted[h.partList[f.part].p.Topic] {
			continue
		}
		if n, first := c.skipped(f); n > 0 {
			fv := &h.versions[first]
			c.add(KindPollSkip, f.part, fv.offset, fv.value, "%s offset %d %s, skipping %s, the first %q at offset %d (%s)",
				who, f.to, prev, plural(n, "known record"), fv.value, fv.offset, c.verDesc(first))
		}
	}
}

// skipped returns how many records are known to have existed between a
// gap's offsets when the poll ran, and the first of them. A version u
// between them existed then if its eras meet those of the version polled
// at the gap's end: while that one lived, the log below it did not change.
func (c *checker) skipped(f pollFact) (int, int32) {
	h := c.h
	if c.sorted == nil {
		c.sorted = map[int32][]int64{}
	}
	offs, ok := c.sorted[f.part]
	if !ok {
		offs = h.partList[f.part].offsets.sorted()
		c.sorted[f.part] = offs
	}
	to := &h.versions[f.toVer]
	lo, hi := to.src.era, to.last
	n, first := 0, int32(-1)
	for i := sort.Search(len(offs), func(i int) bool { return offs[i] > f.from }); i < len(offs) && offs[i] < f.to; i++ {
		vi, _ := h.partList[f.part].offsets.get(offs[i])
		for ; vi >= 0; vi = h.versions[vi].prev {
			if u := &h.versions[vi]; u.src.era <= hi && u.last >= lo {
				if n++; first < 0 {
					first = vi
				}
				break
			}
		}
	}
	return n, first
}

func (c *checker) sendOrder() {
	h := c.h
	report := func(si, pi int32, why string) {
		s, p := &h.sends[si], &h.sends[pi]
		c.add(KindNonmonotonicSend, s.part, s.base, s.values[0], "%s was acknowledged at offset %d, below offset %d of %s, %s",
			h.sendName(si), s.base, p.base+int64(len(p.values))-1, h.sendName(pi), why)
	}
	if !c.o.PipelinedSends {
		for _, f := range h.orderFacts {
			report(f.send, f.prev, "acknowledged before this one was sent")
		}
		return
	}
	type key struct{ proc, part, era int32 }
	type prev struct {
		last int64
		send int32
	}
	seen := map[key]prev{}
	for i := range h.sends {
		s := &h.sends[i]
		if (s.status != sendOK && s.status != sendOKNotDurable) || len(s.values) == 0 {
			continue
		}
		k := key{s.proc, s.part, s.era}
		last := s.base + int64(len(s.values)) - 1
		p, ok := seen[k]
		if ok && s.base <= p.last {
			report(int32(i), p.send, "sent before this one")
		}
		if !ok || last > p.last {
			seen[k] = prev{last, int32(i)}
		}
	}
}

// floorDesc describes the offset a commit went below.
func (c *checker) floorDesc(floor int64, by int32) string {
	if by == floorReset {
		return fmt.Sprintf("the reset to %d", floor)
	}
	cm := &c.h.commits[by]
	how := "acknowledged durable"
	if cm.status == commitOKNotDurable {
		how = "acknowledged (not durable)"
	}
	return fmt.Sprintf("%d, %s%s", floor, how, c.when(cm.era))
}

func (c *checker) commitRegressions() {
	h := c.h
	for _, f := range h.regressions {
		if f.commit >= 0 {
			r := &h.commits[f.commit]
			how := "acknowledged durable"
			if r.status == commitOKNotDurable {
				how = "acknowledged (not durable)"
			}
			c.add(KindCommitRegression, r.part, r.offset, "", "%s was %s%s, below %s",
				h.commitName(f.commit), how, c.when(r.era), c.floorDesc(r.floor, r.floorBy))
			continue
		}
		r := &h.fcommits[f.final]
		found, off := fmt.Sprintf("is %d", r.offset), r.offset
		if !r.ok {
			found, off = "was not found", -1
		}
		c.add(KindCommitRegression, r.part, off, "", "the committed offset of %s found%s %s, below %s",
			h.nameList[r.group], c.when(r.era), found, c.floorDesc(r.floor, r.floorBy))
	}
}

// commitsAhead reports commits past the end of the data: an acknowledged
// commit above the end of a later final read (of the same era if the
// commit was not durable: a crash may lose it with the data), and a
// committed offset found after recovery above the end of the partition's
// final reads of that era.
func (c *checker) commitsAhead() {
	h := c.h
	type low struct {
		end   int64
		final int32
	}
	all := make([][]low, len(h.partList))   // per partition: min end over finals[j:]
	inEra := make([][]low, len(h.partList)) // the same over finals[j:] of finals[j]'s era
	for pi := range h.partList {
		fs := h.partList[pi].finals
		if len(fs) == 0 {
			continue
		}
		a, e := make([]low, len(fs)), make([]low, len(fs))
		for j := len(fs) - 1; j >= 0; j-- {
			f := &h.finals[fs[j]]
			a[j], e[j] = low{f.end, fs[j]}, low{f.end, fs[j]}
			if j+1 < len(fs) {
				if a[j+1].end < f.end {
					a[j] = a[j+1]
				}
				if h.finals[fs[j+1]].era == f.era && e[j+1].end < f.end {
					e[j] = e[j+1]
				}
			}
		}
		all[pi], inEra[pi] = a, e
	}
	for i := range h.commits {
		r := &h.commits[i]
		if r.status != commitOK && r.status != commitOKNotDurable {
			continue
		}
		fs := h.partList[r.part].finals
		j := sort.Search(len(fs), func(j int) bool { return h.finals[fs[j]].seq > r.seq })
		if j == len(fs) {
			continue
		}
		m := all[r.part][j]
		if r.status == commitOKNotDurable {
			if h.finals[fs[j]].era != r.era {
				continue
			}
			m = inEra[r.part][j]
		}
		if r.offset > m.end {
			c.add(KindCommitAhead, r.part, r.offset, "", "%s, acknowledged%s, is past the end %d of %s",
				h.commitName(int32(i)), c.when(r.era), m.end, c.finalDesc(m.final))
		}
	}
	for i := range h.fcommits {
		r := &h.fcommits[i]
		if !r.ok {
			continue
		}
		best := int32(-1)
		for _, fi := range h.partList[r.part].finals {
			if f := &h.finals[fi]; f.era == r.era && (best < 0 || f.end > h.finals[best].end) {
				best = fi
			}
		}
		if best >= 0 && r.offset > h.finals[best].end {
			c.add(KindCommitAhead, r.part, r.offset, "", "the committed offset %d of %s found%s is past the end %d of %s",
				r.offset, h.nameList[r.group], c.when(r.era), h.finals[best].end, c.finalDesc(best))
		}
	}
}

// unseen reports, per partition, the acknowledged records that no poll or
// final read returned and that were not found lost.
func (c *checker) unseen() {
	h := c.h
	type acc struct {
		n        int
		examples []string
		first    int64
		value    string
	}
	accs := make([]acc, len(h.partList))
	for i := range h.sends {
		s := &h.sends[i]
		if s.status != sendOK && s.status != sendOKNotDurable {
			continue
		}
		for j, v := range s.values {
			info := h.values[v]
			if c.readVersion(v, info) >= 0 || info.ver >= 0 && h.versions[info.ver].lost >= 0 {
				continue
			}
			a := &accs[s.part]
			off := s.base + int64(j)
			if a.n == 0 || off < a.first {
				a.first, a.value = off, v
			}
			if a.n++; len(a.examples) < 5 {
				a.examples = append(a.examples, fmt.Sprintf("%q at %d", v, off))
			}
		}
	}
	for pi, a := range accs {
		if a.n == 0 {
			continue
		}
		more := ""
		if a.n > len(a.examples) {
			more = ", ..."
		}
		c.add(KindUnseen, int32(pi), a.first, a.value, "%s never returned by a poll or a final read: %s%s",
			plural(a.n, "acknowledged record"), strings.Join(a.examples, ", "), more)
	}
}
