package histcheck

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// This file simulates a correct log with producers, consumers, commits,
// syncs and crashes, and records its history on a tape that replays into
// a Recorder: the large clean histories of the tests and the benchmark.

// replayState is what a tape's operations act on.
type replayState struct {
	sends   []*Send
	commits []*Commit
	now     time.Time
}

// tape is a recorded history: Recorder calls to replay.
type tape struct {
	ops      []func(r *Recorder, st *replayState)
	nSends   int
	nCommits int
	events   int // Recorder calls, completions included
}

func (t *tape) add(event bool, op func(r *Recorder, st *replayState)) {
	if event {
		t.events++
	}
	t.ops = append(t.ops, op)
}

func (t *tape) send(producer string, p Partition, values []string) int {
	i := t.nSends
	t.nSends++
	t.add(true, func(r *Recorder, st *replayState) { st.sends[i] = r.Send(producer, p, values...) })
	return i
}

func (t *tape) complete(i int, st sendStatus, base int64) {
	t.add(true, func(_ *Recorder, s *replayState) {
		switch st {
		case sendOK:
			s.sends[i].Ok(base)
		case sendOKNotDurable:
			s.sends[i].OkNotDurable(base)
		case sendFailed:
			s.sends[i].Fail()
		default:
			s.sends[i].Unknown()
		}
	})
}

func (t *tape) poll(consumer string, epoch int, reads []Read) {
	t.add(true, func(r *Recorder, _ *replayState) { r.Poll(consumer, epoch, reads...) })
}

func (t *tape) seek(consumer string, epoch int, p Partition, off int64) {
	t.add(true, func(r *Recorder, _ *replayState) { r.Seek(consumer, epoch, p, off) })
}

func (t *tape) commit(group string, p Partition, off int64) int {
	i := t.nCommits
	t.nCommits++
	t.add(true, func(r *Recorder, st *replayState) { st.commits[i] = r.Commit(group, p, off) })
	return i
}

func (t *tape) completeCommit(i int, st commitStatus) {
	t.add(true, func(_ *Recorder, s *replayState) {
		switch st {
		case commitOK:
			s.commits[i].Ok()
		case commitOKNotDurable:
			s.commits[i].OkNotDurable()
		case commitFailed:
			s.commits[i].Fail()
		default:
			s.commits[i].Unknown()
		}
	})
}

func (t *tape) resetCommit(group string, p Partition, off int64) {
	t.add(true, func(r *Recorder, _ *replayState) { r.ResetCommit(group, p, off) })
}

func (t *tape) crash() { t.add(true, func(r *Recorder, _ *replayState) { r.Crash() }) }

func (t *tape) final(p Partition, start, end int64, reads []Read) {
	t.add(true, func(r *Recorder, _ *replayState) { r.Final(p, start, end, reads) })
}

func (t *tape) finalCommit(group string, p Partition, off int64, ok bool) {
	t.add(true, func(r *Recorder, _ *replayState) { r.FinalCommit(group, p, off, ok) })
}

func (t *tape) setTime(now time.Time) {
	t.add(false, func(_ *Recorder, st *replayState) { st.now = now })
}

// play replays the tape into a new Recorder.
func (t *tape) play() *Recorder {
	st := &replayState{sends: make([]*Send, t.nSends), commits: make([]*Commit, t.nCommits)}
	r := NewRecorder(Config{Now: func() time.Time { return st.now }})
	for _, op := range t.ops {
		op(r, st)
	}
	return r
}

type simConfig struct {
	seed       uint64
	events     int // stop after this many recorded events
	partitions int
	producers  int
	consumers  int // each in its own group
	durable    bool
	crashEvery int // mean steps between crashes
	syncEvery  int // steps (1 ms each) between syncs when not durable
}

// options returns the options the simulated log meets.
func (c simConfig) options() Options {
	if c.durable {
		return Options{DurableReads: true, PipelinedSends: true, RequireSeen: true}
	}
	return Options{LossWindow: time.Duration(c.syncEvery+2) * time.Millisecond, PipelinedSends: true, RequireSeen: true}
}

type simPartition struct {
	p            Partition
	log          []string
	ackedDurable []bool
	durable      int // the durable prefix: what a crash keeps at least, and (durable mode) what consumers see
}

type simConsumer struct {
	name, group string
	epoch       int
	pos         []int64
	committed   []int64 // -1: none
	durCommit   []int64 // what a crash keeps
}

type pendingSend struct {
	h, part int
	base    int64
	n       int
}

// sim is the simulated log. Under durable, acknowledgements are durable
// (group commit: an acknowledgement syncs the prefix up to its end) and
// consumers read only the durable prefix; otherwise acknowledgements are
// not durable, consumers read everything written, and a sync every
// syncEvery steps makes everything durable. A crash keeps the durable
// prefix and a random part of the rest. Commits never point past durable
// data.
type sim struct {
	cfg     simConfig
	rng     *rand.Rand
	t       *tape
	parts   []*simPartition
	cons    []*simConsumer
	pending []pendingSend
	now     time.Time
	seq     int
	step    int
}

func newSim(cfg simConfig) *sim {
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 7)), t: &tape{},
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := range cfg.partitions {
		s.parts = append(s.parts, &simPartition{p: Partition{Topic: "t", ID: int32(i)}})
	}
	for i := range cfg.consumers {
		c := &simConsumer{name: fmt.Sprintf("c%d", i), group: fmt.Sprintf("g%d", i)}
		for range cfg.partitions {
			c.pos = append(c.pos, 0)
			c.committed = append(c.committed, -1)
			c.durCommit = append(c.durCommit, -1)
		}
		s.cons = append(s.cons, c)
	}
	return s
}

func (s *sim) run() {
	for s.t.events < s.cfg.events {
		s.step++
		s.now = s.now.Add(time.Millisecond)
		s.t.setTime(s.now)
		if !s.cfg.durable && s.step%s.cfg.syncEvery == 0 {
			s.sync()
		}
		if s.rng.IntN(s.cfg.crashEvery) == 0 {
			s.crash()
			continue
		}
		switch x := s.rng.IntN(100); {
		case x < 40:
			s.send()
		case x < 45:
			s.completePending()
		case x < 75:
			s.poll()
		case x < 85:
			s.commit()
		case x < 87:
			s.rebalance(s.cons[s.rng.IntN(len(s.cons))])
		case x < 89:
			s.seekBack()
		case x < 90:
			s.reset()
		default:
			s.send()
		}
	}
	for _, p := range s.parts {
		s.final(p)
	}
}

func (s *sim) write(p *simPartition, values []string) int64 {
	base := int64(len(p.log))
	p.log = append(p.log, values...)
	for range values {
		p.ackedDurable = append(p.ackedDurable, false)
	}
	return base
}

// ack records a send acknowledged at base.
func (s *sim) ack(h int, p *simPartition, base int64, n int) {
	if !s.cfg.durable {
		s.t.complete(h, sendOKNotDurable, base)
		return
	}
	p.durable = max(p.durable, int(base)+n)
	for i := range n {
		p.ackedDurable[int(base)+i] = true
	}
	s.t.complete(h, sendOK, base)
}

func (s *sim) send() {
	pi, prod := s.rng.IntN(len(s.parts)), s.rng.IntN(s.cfg.producers)
	p := s.parts[pi]
	values := make([]string, 1+s.rng.IntN(3))
	for i := range values {
		values[i] = fmt.Sprintf("p%d-%d", prod, s.seq)
		s.seq++
	}
	h := s.t.send(fmt.Sprintf("p%d", prod), p.p, values)
	switch roll := s.rng.IntN(100); {
	case roll < 75:
		s.ack(h, p, s.write(p, values), len(values))
	case roll < 80:
		s.t.complete(h, sendFailed, 0)
	case roll < 90: // written, then a timeout
		s.write(p, values)
		s.t.complete(h, sendUnknown, 0)
	case roll < 95: // a timeout before writing
		s.t.complete(h, sendUnknown, 0)
	default: // in flight
		s.pending = append(s.pending, pendingSend{h: h, part: pi, base: s.write(p, values), n: len(values)})
	}
}

func (s *sim) completePending() {
	if len(s.pending) == 0 {
		return
	}
	i := s.rng.IntN(len(s.pending))
	ps := s.pending[i]
	s.pending = slices.Delete(s.pending, i, i+1)
	s.ack(ps.h, s.parts[ps.part], ps.base, ps.n)
}

func (s *sim) visible(p *simPartition) int64 {
	if s.cfg.durable {
		return int64(p.durable)
	}
	return int64(len(p.log))
}

func (s *sim) poll() {
	c := s.cons[s.rng.IntN(len(s.cons))]
	var reads []Read
	for range 1 + s.rng.IntN(2) {
		pi := s.rng.IntN(len(s.parts))
		p := s.parts[pi]
		to := min(c.pos[pi]+1+int64(s.rng.IntN(5)), s.visible(p))
		for o := c.pos[pi]; o < to; o++ {
			reads = append(reads, Read{Partition: p.p, Offset: o, Value: p.log[o]})
		}
		c.pos[pi] = max(c.pos[pi], to)
	}
	if len(reads) > 0 {
		s.t.poll(c.name, c.epoch, reads)
	}
}

func (s *sim) commit() {
	c := s.cons[s.rng.IntN(len(s.cons))]
	pi := s.rng.IntN(len(s.parts))
	off := min(c.pos[pi], int64(s.parts[pi].durable))
	h := s.t.commit(c.group, s.parts[pi].p, off)
	apply := func() {
		c.committed[pi] = off
		if s.cfg.durable {
			c.durCommit[pi] = off
		}
	}
	switch roll := s.rng.IntN(100); {
	case roll < 85:
		apply()
		if s.cfg.durable {
			s.t.completeCommit(h, commitOK)
		} else {
			s.t.completeCommit(h, commitOKNotDurable)
		}
	case roll < 95:
		s.t.completeCommit(h, commitFailed)
	default:
		if s.rng.IntN(2) == 0 {
			apply()
		}
		s.t.completeCommit(h, commitUnknown)
	}
}

// rebalance starts a new epoch of c at its committed offsets.
func (s *sim) rebalance(c *simConsumer) {
	c.epoch++
	for pi := range c.pos {
		c.pos[pi] = max(c.committed[pi], 0)
	}
}

func (s *sim) seekBack() {
	c := s.cons[s.rng.IntN(len(s.cons))]
	pi := s.rng.IntN(len(s.parts))
	low := max(c.committed[pi], 0)
	if c.pos[pi] <= low {
		return
	}
	c.pos[pi] = low + s.rng.Int64N(c.pos[pi]-low)
	s.t.seek(c.name, c.epoch, s.parts[pi].p, c.pos[pi])
}

func (s *sim) reset() {
	c := s.cons[s.rng.IntN(len(s.cons))]
	pi := s.rng.IntN(len(s.parts))
	if c.committed[pi] < 0 {
		return
	}
	off := s.rng.Int64N(c.committed[pi] + 1)
	s.t.resetCommit(c.group, s.parts[pi].p, off)
	c.committed[pi], c.durCommit[pi] = off, off
	s.rebalance(c)
}

func (s *sim) sync() {
	for _, p := range s.parts {
		p.durable = len(p.log)
	}
	for _, c := range s.cons {
		copy(c.durCommit, c.committed)
	}
}

func (s *sim) final(p *simPartition) {
	reads := make([]Read, len(p.log))
	for o, v := range p.log {
		reads[o] = Read{Partition: p.p, Offset: int64(o), Value: v}
	}
	s.t.final(p.p, 0, int64(len(p.log)), reads)
}

func (s *sim) crash() {
	for _, p := range s.parts {
		keep := p.durable + s.rng.IntN(len(p.log)-p.durable+1)
		p.log, p.ackedDurable = p.log[:keep], p.ackedDurable[:keep]
		p.durable = keep
	}
	for _, c := range s.cons {
		if s.rng.IntN(2) == 0 { // the commits since the last sync are lost
			copy(c.committed, c.durCommit)
		}
		copy(c.durCommit, c.committed)
	}
	s.pending = nil
	s.t.crash()
	for _, p := range s.parts {
		if s.rng.IntN(4) > 0 {
			s.final(p)
		}
	}
	for _, c := range s.cons {
		for pi, p := range s.parts {
			s.t.finalCommit(c.group, p.p, c.committed[pi], c.committed[pi] >= 0)
		}
		s.rebalance(c)
	}
}

var simConfigs = []simConfig{
	{seed: 1, events: 200_000, partitions: 4, producers: 5, consumers: 3, durable: true, crashEvery: 2000},
	{seed: 2, events: 200_000, partitions: 4, producers: 5, consumers: 3, durable: false, crashEvery: 2000, syncEvery: 50},
}

// TestRandomCleanHistories checks that large histories of a correct log,
// with both durability modes, many crashes and every kind of event,
// report nothing.
func TestRandomCleanHistories(t *testing.T) {
	for _, cfg := range simConfigs {
		if testing.Short() {
			cfg.events /= 10
		}
		t.Run(fmt.Sprintf("durable=%v", cfg.durable), func(t *testing.T) {
			s := newSim(cfg)
			s.run()
			res := s.t.play().Check(cfg.options())
			if err := res.Err(); err != nil || len(res.Anomalies) > 0 {
				t.Fatalf("%v\n%v", err, res.Anomalies)
			}
			if res.Crashes < 20 || res.Acked < cfg.events/5 || res.Polled < cfg.events/5 || res.CommitsOK == 0 ||
				res.SendsFailed == 0 || res.SendsUnknown == 0 {
				t.Fatalf("the simulation did too little: %s", res)
			}
			if !cfg.durable && res.AckedLost == 0 {
				t.Fatalf("no acknowledged record lost under syncs: %s", res)
			}
			t.Log(res)
		})
	}
}

// TestRandomHistoryMutations adds one anomaly to a large clean history
// and checks it is found, alone, at its place.
func TestRandomHistoryMutations(t *testing.T) {
	cfg := simConfigs[0]
	cfg.events = 50_000
	cases := []struct {
		name   string
		mutate func(t *testing.T, s *sim) Anomaly // returns the anomaly expected
	}{
		{"lost write", func(t *testing.T, s *sim) Anomaly {
			p := s.parts[0]
			o := len(p.log) - 1
			for o >= 0 && !p.ackedDurable[o] {
				o--
			}
			if o < 0 {
				t.Fatal("nothing acknowledged durable")
			}
			reads := make([]Read, 0, len(p.log))
			for i, v := range p.log {
				if i != o {
					reads = append(reads, Read{Partition: p.p, Offset: int64(i), Value: v})
				}
			}
			s.t.crash()
			s.t.final(p.p, 0, int64(len(p.log)), reads)
			return Anomaly{Kind: KindLostWrite, Partition: p.p, Offset: int64(o), Value: p.log[o]}
		}},
		{"poll skip", func(t *testing.T, s *sim) Anomaly {
			p := s.parts[1]
			o := len(p.log) / 2
			s.t.poll("extra", 0, []Read{{p.p, int64(o - 1), p.log[o-1]}, {p.p, int64(o + 1), p.log[o+1]}})
			return Anomaly{Kind: KindPollSkip, Partition: p.p, Offset: int64(o), Value: p.log[o]}
		}},
		{"commit regression", func(t *testing.T, s *sim) Anomaly {
			for _, c := range s.cons {
				for pi, off := range c.durCommit {
					if off > 0 {
						h := s.t.commit(c.group, s.parts[pi].p, off-1)
						s.t.completeCommit(h, commitOK)
						return Anomaly{Kind: KindCommitRegression, Partition: s.parts[pi].p, Offset: off - 1}
					}
				}
			}
			t.Fatal("no durable commit")
			return Anomaly{}
		}},
		{"duplicate", func(t *testing.T, s *sim) Anomaly {
			p := s.parts[2]
			v := p.log[len(p.log)/3]
			s.t.poll("extra", 0, []Read{{p.p, int64(len(p.log)), v}})
			return Anomaly{Kind: KindDuplicate, Partition: p.p, Offset: int64(len(p.log)), Value: v}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(cfg)
			s.run()
			want := tc.mutate(t, s)
			res := s.t.play().Check(cfg.options())
			if len(res.Anomalies) != 1 {
				t.Fatalf("want one %v, got %v", want, res.Anomalies)
			}
			got := res.Anomalies[0]
			if got.Kind != want.Kind || got.Partition != want.Partition || got.Offset != want.Offset || got.Value != want.Value {
				t.Fatalf("got %v, want %v at %v@%d %q", got, want.Kind, want.Partition, want.Offset, want.Value)
			}
		})
	}
}

// TestRecorderMemory checks that a Recorder keeps at most a few hundred
// bytes per event of a large history.
func TestRecorderMemory(t *testing.T) {
	cfg := simConfigs[1]
	cfg.events = 100_000
	s := newSim(cfg)
	s.run()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := s.t.play()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEvent := float64(after.HeapAlloc-before.HeapAlloc) / float64(s.t.events)
	t.Logf("%.0f bytes per event (%d events)", perEvent, s.t.events)
	if perEvent > 300 {
		t.Errorf("%.0f bytes per event", perEvent)
	}
	runtime.KeepAlive(r)
}

// BenchmarkCheck records a history of 200,000 events and checks it.
func BenchmarkCheck(b *testing.B) {
	for _, cfg := range simConfigs {
		b.Run(fmt.Sprintf("durable=%v", cfg.durable), func(b *testing.B) {
			s := newSim(cfg)
			s.run()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := s.t.play().Check(cfg.options()).Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.t.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
