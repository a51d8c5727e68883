package histcheck

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	p0 = Partition{Topic: "t", ID: 0}
	p1 = Partition{Topic: "t", ID: 1}
	kv = Partition{Topic: "kv", ID: 0}
)

func rd(p Partition, off int64, v string) Read { return Read{Partition: p, Offset: off, Value: v} }

// ok sends values to p as one send acknowledged durable at base.
func ok(r *Recorder, p Partition, base int64, values ...string) {
	r.Send("p1", p, values...).Ok(base)
}

// okND sends values to p as one send acknowledged not durable at base.
func okND(r *Recorder, p Partition, base int64, values ...string) {
	r.Send("p1", p, values...).OkNotDurable(base)
}

// unknown sends each value as its own send of unknown outcome.
func unknown(r *Recorder, p Partition, values ...string) {
	for _, v := range values {
		r.Send("p9", p, v).Unknown()
	}
}

// final records a final read of p holding values at offsets from start,
// "" marking an offset without a record.
func final(r *Recorder, p Partition, start, end int64, values ...string) {
	var recs []Read
	for i, v := range values {
		if v != "" {
			recs = append(recs, rd(p, start+int64(i), v))
		}
	}
	r.Final(p, start, end, recs)
}

// clock is a fake clock for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type checkCase struct {
	name  string
	opts  Options
	build func(r *Recorder, c *clock)
	want  []Kind   // every kind reported, errors and warnings, in order
	text  []string // substrings some anomaly must contain, in order of want's kinds
}

func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r := NewRecorder(Config{Now: c.now})
			tc.build(r, c)
			res := r.Check(tc.opts)
			if got := res.Kinds(); !slices.Equal(got, tc.want) {
				t.Fatalf("kinds %v, want %v\n%s\n%v", got, tc.want, res, res.Anomalies)
			}
			for _, s := range tc.text {
				if !slices.ContainsFunc(res.Anomalies, func(a Anomaly) bool { return strings.Contains(a.String(), s) }) {
					t.Errorf("no anomaly contains %q: %v", s, res.Anomalies)
				}
			}
			errs := slices.ContainsFunc(res.Anomalies, func(a Anomaly) bool { return !a.Warning })
			if err := res.Err(); (err != nil) != errs {
				t.Errorf("Err() = %v, with error anomalies %v", err, errs)
			}
			if len(tc.want) == 0 && !strings.HasSuffix(res.String(), ": no anomalies") {
				t.Errorf("String() = %q", res.String())
			}
		})
	}
}

// TestCleanHistories checks histories that show nothing wrong, each
// exercising something the checker must allow.
func TestCleanHistories(t *testing.T) { runCases(t, cleanCases()) }

func cleanCases() []checkCase {
	return []checkCase{
		{name: "acked polled committed and read back", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Commit("g", p0, 2).Ok()
			r.Crash()
			final(r, p0, 0, 2, "a", "b")
			r.FinalCommit("g", p0, 2, true)
		}},
		{name: "not durable suffix lost in a crash", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			okND(r, p0, 1, "b")
			okND(r, p0, 2, "c")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"), rd(p0, 2, "c"))
			r.Crash()
			final(r, p0, 0, 1, "a")
		}},
		{name: "offsets reused after a lost suffix", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			okND(r, p0, 1, "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Crash()
			r.Send("p1", p0, "d").Ok(1)
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "d"))
			final(r, p0, 0, 2, "a", "d")
		}},
		{name: "unknown sends present or absent", build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b")
			r.Poll("c1", 0, rd(p0, 0, "b"))
			final(r, p0, 0, 1, "b")
		}},
		{name: "in flight at a crash", build: func(r *Recorder, _ *clock) {
			s := r.Send("p1", p0, "a")
			r.Crash()
			s.Ok(0) // late: unknown
			final(r, p0, 0, 0)
		}},
		{name: "failed send absent", build: func(r *Recorder, _ *clock) {
			r.Send("p1", p0, "a").Fail()
			ok(r, p0, 0, "b")
			r.Poll("c1", 0, rd(p0, 0, "b"))
		}},
		{name: "compacted topic with holes", opts: Options{Compacted: []string{"kv"}}, build: func(r *Recorder, _ *clock) {
			ok(r, kv, 0, "a", "b", "c")
			r.Poll("c1", 0, rd(kv, 0, "a"), rd(kv, 2, "c"))
			r.Crash()
			final(r, kv, 0, 3, "", "", "c")
		}},
		{name: "gap over offsets never seen", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			ok(r, p0, 2, "b") // offset 1: a transaction marker
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 2, "b"))
			final(r, p0, 0, 3, "a", "", "b")
		}},
		{name: "retention below the start", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b", "c")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"), rd(p0, 2, "c"))
			r.Crash()
			final(r, p0, 2, 3, "c")
		}},
		{name: "commits reset backwards", build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 5).Ok()
			r.Commit("g", p0, 7).Ok()
			r.ResetCommit("g", p0, 2)
			r.Commit("g", p0, 3).Ok()
			r.Crash()
			r.FinalCommit("g", p0, 3, true)
		}},
		{name: "concurrent sends acknowledged out of order", build: func(r *Recorder, _ *clock) {
			s1, s2 := r.Send("p1", p0, "a"), r.Send("p1", p0, "b")
			s2.Ok(0)
			s1.Ok(1)
			final(r, p0, 0, 2, "b", "a")
		}},
		{name: "seek back and new epoch", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Seek("c1", 0, p0, 0)
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Poll("c1", 1, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Crash()
			r.Poll("c1", 1, rd(p0, 0, "a"))
		}},
		{name: "not durable commit lost in a crash", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b", "c", "d", "e")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Commit("g", p0, 3).Ok()
			r.Commit("g", p0, 5).OkNotDurable()
			r.Crash()
			final(r, p0, 0, 5, "a", "b", "c", "d", "e")
			r.FinalCommit("g", p0, 3, true)
			r.Commit("g", p0, 4).OkNotDurable()
		}},
		{name: "no commit found after only not durable ones", build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 0).OkNotDurable()
			r.Crash()
			r.FinalCommit("g", p0, 0, false)
		}},
		{name: "durable reads survive", opts: Options{DurableReads: true}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			unknown(r, p0, "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Crash()
			final(r, p0, 0, 2, "a", "b")
		}},
		{name: "not durable reads lost", build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Crash()
			final(r, p0, 0, 0)
		}},
		{name: "loss within the window", opts: Options{LossWindow: 100 * time.Millisecond}, build: func(r *Recorder, c *clock) {
			okND(r, p0, 0, "a")
			c.advance(50 * time.Millisecond)
			r.Crash()
			final(r, p0, 0, 0)
		}},
		{name: "survives several crashes", build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			r.Crash()
			final(r, p0, 0, 1, "a")
			r.Crash()
			final(r, p0, 0, 1, "a")
		}},
		{name: "lost at a later crash", build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			r.Crash()
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Crash()
			final(r, p0, 0, 0)
		}},
		{name: "several partitions", build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			ok(r, p1, 0, "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p1, 0, "b"))
			r.Commit("g", p1, 1).Ok()
			r.Crash()
			final(r, p0, 0, 1, "a")
			final(r, p1, 0, 1, "b")
			r.FinalCommit("g", p1, 1, true)
		}},
	}
}

// TestAnomalies builds, for each kind, histories exhibiting it and checks
// it is the only kind reported.
func TestAnomalies(t *testing.T) { runCases(t, anomalyCases()) }

func anomalyCases() []checkCase {
	return []checkCase{
		// lost-write
		{name: "durable missing below the end", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b", "c")
			r.Crash()
			final(r, p0, 0, 3, "a", "", "c")
		}, text: []string{`t-0@1: "b" (acknowledged durable to p1 before crash 1) is missing from the final read [0, 3) after crash 1: it was acknowledged durable`}},
		{name: "durable missing past the end", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Crash()
			final(r, p0, 0, 1, "a")
		}, text: []string{`t-0@1: "b"`}},
		{name: "durable overwritten after a crash", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Crash()
			unknown(r, p0, "x")
			r.Poll("c1", 0, rd(p0, 0, "x"))
		}, text: []string{`overwritten by "x", polled by c1 (epoch 0) after crash 1: it was acknowledged durable`}},
		{name: "missing with no crash", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			final(r, p0, 0, 0)
		}, text: []string{"no crash happened in between"}},
		{name: "not durable lost below a survivor", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a", "b")
			r.Crash()
			final(r, p0, 0, 2, "", "b")
		}, text: []string{`t-0@0: "a"`, `offset 1 above it ("b", acknowledged (not durable) to p1 before crash 1) survived, seen after crash 1: the loss is not a suffix`}},
		{name: "not durable lost below a durable record", want: []Kind{KindLostWrite}, build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			ok(r, p0, 1, "b")
			r.Crash()
			final(r, p0, 0, 0)
		}, text: []string{`t-0@0: "a"`, `offset 1 above it ("b", acknowledged durable to p1 before crash 1) was durable while it existed`, `t-0@1: "b"`}},
		{name: "outside the loss window", opts: Options{LossWindow: time.Second}, want: []Kind{KindLostWrite}, build: func(r *Recorder, c *clock) {
			okND(r, p0, 0, "a")
			c.advance(1500 * time.Millisecond)
			r.Crash()
			final(r, p0, 0, 0)
		}, text: []string{"it was acknowledged 1.5s before crash 1, outside the 1s loss window"}},
		{name: "outside the window after surviving a crash", opts: Options{LossWindow: time.Second}, want: []Kind{KindLostWrite}, build: func(r *Recorder, c *clock) {
			okND(r, p0, 0, "a")
			c.advance(100 * time.Millisecond)
			r.Crash()
			final(r, p0, 0, 1, "a")
			c.advance(5 * time.Second)
			r.Crash()
			final(r, p0, 0, 0)
		}, text: []string{"before crash 2, outside"}},
		// lost-read
		{name: "durable read lost", opts: Options{DurableReads: true}, want: []Kind{KindLostRead}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Crash()
			final(r, p0, 0, 0)
		}, text: []string{"it was polled before crash 1, and reads are durable"}},
		{name: "read lost below a survivor", want: []Kind{KindLostRead}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"))
			r.Crash()
			final(r, p0, 0, 2, "", "b")
		}, text: []string{"not a suffix"}},
		// inconsistent-offsets
		{name: "ack and poll disagree", want: []Kind{KindInconsistentOffsets}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			unknown(r, p0, "b")
			r.Poll("c1", 0, rd(p0, 0, "b"))
			r.Poll("c2", 0, rd(p0, 0, "a"))
		}, text: []string{`t-0@0: the offset holds "a" (acknowledged durable to p1) and "b" (polled by c1 (epoch 0)), with no crash in between`}},
		{name: "polls disagree", want: []Kind{KindInconsistentOffsets}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Poll("c2", 0, rd(p0, 0, "b"))
			r.Poll("c3", 0, rd(p0, 0, "a")) // the same conflict: no new fact
		}, text: []string{`"a" (polled by c1 (epoch 0)) and "b" (polled by c2 (epoch 0))`}},
		{name: "recovered record overwritten", want: []Kind{KindInconsistentOffsets}, build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			r.Crash()
			final(r, p0, 0, 1, "a")
			ok(r, p0, 0, "b") // a second recovery cut what the final read showed
			final(r, p0, 0, 1, "b")
		}, text: []string{`t-0@0: the offset holds "a" (acknowledged (not durable) to p1 before crash 1) and "b" (acknowledged durable to p1 after crash 1), both after crash 1`}},
		{name: "lost record seen again", opts: Options{DurableReads: true}, want: []Kind{KindInconsistentOffsets}, build: func(r *Recorder, _ *clock) {
			okND(r, p0, 0, "a")
			r.Crash()
			final(r, p0, 0, 0)
			r.Poll("c1", 0, rd(p0, 0, "a"))
		}, text: []string{`was missing from the final read [0, 0) after crash 1, but polled by c1 (epoch 0) after crash 1 again`}},
		// duplicate
		{name: "one value at two offsets", want: []Kind{KindDuplicate}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "a"))
		}, text: []string{`t-0@1: "a" is stored at t-0@0 (polled by c1 (epoch 0)) and at t-0@1`}},
		{name: "one value in two partitions", want: []Kind{KindDuplicate}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			final(r, p1, 0, 1, "a")
		}, text: []string{`"a" is stored at t-0@0`, `and at t-1@0 (in the final read [0, 1))`}},
		// wrong-offset
		{name: "acknowledged at one offset read at another", want: []Kind{KindWrongOffset}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Poll("c1", 0, rd(p0, 1, "a"))
		}, text: []string{`t-0@0: "a" was acknowledged durable to p1 at t-0@0 but read at t-0@1 (polled by c1 (epoch 0))`}},
		// G1a
		{name: "polled a failed send", want: []Kind{KindAbortedRead}, build: func(r *Recorder, _ *clock) {
			r.Send("p1", p0, "a").Fail()
			r.Poll("c1", 0, rd(p0, 0, "a"))
		}, text: []string{`G1a t-0@0: "a" was polled by c1 (epoch 0), but p1's send of "a" to t-0 failed`}},
		{name: "failed send in a final read", want: []Kind{KindAbortedRead}, build: func(r *Recorder, _ *clock) {
			r.Send("p1", p0, "a").Fail()
			r.Crash()
			final(r, p0, 0, 1, "a")
		}},
		// phantom
		{name: "never sent", want: []Kind{KindPhantom}, build: func(r *Recorder, _ *clock) {
			r.Poll("c1", 0, rd(p0, 0, "zz"))
		}, text: []string{`"zz" was polled by c1 (epoch 0) but never sent`}},
		// nonmonotonic-poll
		{name: "backwards between polls", want: []Kind{KindNonmonotonicPoll}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Poll("c1", 0, rd(p0, 1, "b"))
			r.Poll("c1", 0, rd(p0, 0, "a"))
		}, text: []string{"t-0@0: c1 (epoch 0) polled offset 0 after offset 1"}},
		{name: "backwards in one poll", want: []Kind{KindNonmonotonicPoll}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Poll("c1", 0, rd(p0, 1, "b"), rd(p0, 0, "a"))
		}, text: []string{"polled offset 0 after offset 1 in the same poll"}},
		{name: "offset repeated", want: []Kind{KindNonmonotonicPoll}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Poll("c1", 0, rd(p0, 0, "a"))
		}},
		{name: "before the seek", want: []Kind{KindNonmonotonicPoll}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Seek("c1", 3, p0, 1)
			r.Poll("c1", 3, rd(p0, 0, "a"))
		}, text: []string{"c1 (epoch 3) polled offset 0 after seeking to offset 1"}},
		{name: "final read out of order", want: []Kind{KindPhantom, KindNonmonotonicPoll}, build: func(r *Recorder, _ *clock) {
			r.Final(p0, 0, 2, []Read{rd(p0, 1, "b"), rd(p0, 0, "a")}) // no process named at all
		}, text: []string{"t-0@0: the final read [0, 2) holds offset 0 after offset 1"}},
		// poll-skip
		{name: "skips an acknowledged record", want: []Kind{KindPollSkip}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b", "c")
			r.Poll("c1", 0, rd(p0, 0, "a"))
			r.Poll("c1", 0, rd(p0, 2, "c"))
			final(r, p0, 0, 3, "a", "b", "c")
		}, text: []string{`t-0@1: c1 (epoch 0) polled offset 2 after offset 0, skipping 1 known record, the first "b" at offset 1 (acknowledged durable to p1)`}},
		{name: "skips records a final read shows", want: []Kind{KindPollSkip}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b", "c", "d")
			final(r, p0, 0, 4, "a", "b", "c", "d")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 3, "d"))
		}, text: []string{"skipping 2 known records"}},
		{name: "skips a record that survived with it", want: []Kind{KindPollSkip}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b", "c")
			r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 2, "c"))
			r.Crash()
			final(r, p0, 0, 3, "a", "b", "c") // b unseen before, but c survived: b was there
		}},
		{name: "skips after a seek", want: []Kind{KindPollSkip}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
			r.Poll("c2", 0, rd(p0, 0, "a"))
			r.Seek("c1", 0, p0, 0)
			r.Poll("c1", 0, rd(p0, 1, "b"))
		}, text: []string{"after seeking to offset 0, skipping 1 known record"}},
		// nonmonotonic-send
		{name: "later send at a lower offset", want: []Kind{KindNonmonotonicSend}, build: func(r *Recorder, _ *clock) {
			r.Send("p1", p0, "a").Ok(5)
			r.Send("p1", p0, "b").Ok(3)
			final(r, p0, 0, 6, "", "", "", "b", "", "a")
		}, text: []string{`t-0@3: p1's send of "b" to t-0 was acknowledged at offset 3, below offset 5 of p1's send of "a" to t-0, acknowledged before this one was sent`}},
		{name: "pipelined sends out of order", opts: Options{PipelinedSends: true}, want: []Kind{KindNonmonotonicSend}, build: func(r *Recorder, _ *clock) {
			s1, s2 := r.Send("p1", p0, "a"), r.Send("p1", p0, "b")
			s2.Ok(0)
			s1.Ok(1)
			final(r, p0, 0, 2, "b", "a")
		}, text: []string{"sent before this one"}},
		// commit-regression
		{name: "acknowledged commit goes back", want: []Kind{KindCommitRegression}, build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 5).Ok()
			r.Commit("g", p0, 3).Ok()
		}, text: []string{"t-0@3: g's commit of 3 for t-0 was acknowledged durable, below 5, acknowledged durable"}},
		{name: "not durable commit goes back", want: []Kind{KindCommitRegression}, build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 5).OkNotDurable()
			r.Commit("g", p0, 3).OkNotDurable()
		}},
		{name: "below the reset", want: []Kind{KindCommitRegression}, build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 9).Ok()
			r.ResetCommit("g", p0, 4)
			r.Commit("g", p0, 3).Ok()
		}, text: []string{"below the reset to 4"}},
		{name: "recovered below a durable commit", want: []Kind{KindCommitRegression}, build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 5).Ok()
			r.Crash()
			r.FinalCommit("g", p0, 3, true)
		}, text: []string{"t-0@3: the committed offset of g found after crash 1 is 3, below 5, acknowledged durable before crash 1"}},
		{name: "durable commit not found", want: []Kind{KindCommitRegression}, build: func(r *Recorder, _ *clock) {
			r.Commit("g", p0, 5).Ok()
			r.Crash()
			r.FinalCommit("g", p0, 0, false)
		}, text: []string{"was not found"}},
		// commit-ahead
		{name: "commit past the recovered end", want: []Kind{KindCommitAhead}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Commit("g", p0, 2).Ok()
			r.Crash()
			final(r, p0, 0, 1, "a")
		}, text: []string{"t-0@2: g's commit of 2 for t-0, acknowledged before crash 1, is past the end 1 of the final read [0, 1) after crash 1"}},
		{name: "recovered commit past the end", want: []Kind{KindCommitAhead}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a")
			r.Crash()
			final(r, p0, 0, 1, "a")
			r.FinalCommit("g", p0, 3, true)
		}, text: []string{"the committed offset 3 of g found after crash 1 is past the end 1"}},
		// unseen
		{name: "acknowledged never read", want: []Kind{KindUnseen}, build: func(r *Recorder, _ *clock) {
			ok(r, p0, 0, "a", "b")
		}, text: []string{`unseen t-0@0: 2 acknowledged records never returned by a poll or a final read: "a" at 0, "b" at 1`}},
		{name: "acknowledged never read, strict", opts: Options{RequireSeen: true}, want: []Kind{KindUnseen}, build: func(r *Recorder, _ *clock) {
			ok(r, p1, 0, "a")
		}},
		// invalid-history
		{name: "value sent twice", want: []Kind{KindInvalidHistory}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "a")
			r.Send("p2", p1, "b", "b").Unknown()
		}, text: []string{`value "a" sent twice: by p9 to t-0, then by p9 to t-0`, `value "b" sent twice: by p2 to t-1, then by p2 to t-1`}},
		{name: "completed twice", want: []Kind{KindInvalidHistory}, build: func(r *Recorder, _ *clock) {
			s := r.Send("p1", p0, "a")
			s.Fail()
			s.Fail()
			c := r.Commit("g", p0, 1)
			c.Fail()
			c.Unknown()
		}, text: []string{`p1's send of "a" to t-0 completed twice`, "g's commit of 1 for t-0 completed twice"}},
		{name: "bad offsets", want: []Kind{KindInvalidHistory}, build: func(r *Recorder, _ *clock) {
			unknown(r, p0, "a", "b")
			r.Poll("c1", 0, rd(p0, -1, "a"))
			r.Final(p0, 0, 1, []Read{rd(p0, 1, "b")})
			r.Final(p0, 0, 1, []Read{rd(p1, 0, "b")})
		}, text: []string{"holds \"b\" at offset 1", "holds \"b\" of t-1"}},
	}
}

// TestAllow checks that allowed kinds become warnings.
func TestAllow(t *testing.T) {
	r := NewRecorder(Config{})
	ok(r, p0, 0, "a")
	r.Crash()
	final(r, p0, 0, 0)
	if r.Check(Options{}).Err() == nil {
		t.Fatal("lost write not reported")
	}
	res := r.Check(Options{Allow: []Kind{KindLostWrite}})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if a := res.Of(KindLostWrite); len(a) != 1 || !a[0].Warning {
		t.Fatalf("allowed lost write: %v", a)
	}
	if s := res.String(); !strings.HasSuffix(s, ": 1 warning (lost-write 1)") {
		t.Fatalf("String() = %q", s)
	}
}

// TestResultCounts checks the counts and the summary.
func TestResultCounts(t *testing.T) {
	r := NewRecorder(Config{})
	ok(r, p0, 0, "a", "b")
	okND(r, p0, 2, "c")
	r.Send("p1", p0, "d").Fail()
	r.Send("p1", p0, "e").Unknown()
	r.Send("p1", p1, "f") // never completed
	r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1, "b"), rd(p0, 2, "c"))
	r.Commit("g", p0, 3).Ok()
	r.Commit("g", p0, 3).Fail()
	r.Crash()
	final(r, p0, 0, 2, "a", "b")
	res := r.Check(Options{})
	want := Result{Sends: 5, SendsOK: 2, SendsFailed: 1, SendsUnknown: 2, Acked: 3, AckedLost: 1, Polled: 3,
		FinalReads: 1, FinalRecords: 2, Commits: 2, CommitsOK: 1, Partitions: 2, Crashes: 1}
	got := *res
	got.Anomalies, got.maxReported = nil, 0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	// The commit of 3 is past the end 2: the data below it was not durable.
	if k := res.Kinds(); !slices.Equal(k, []Kind{KindCommitAhead}) {
		t.Fatalf("kinds %v", k)
	}
	const summary = "checked 3 acknowledged records (1 lost as allowed) of 5 sends (1 failed, 2 unknown), 3 polled, " +
		"1 final read and 2 commits over 2 partitions and 1 crash: 1 error (commit-ahead 1)"
	if s := res.String(); s != summary {
		t.Fatalf("String() = %q\nwant       %q", s, summary)
	}
	if r.Acked() != 3 {
		t.Fatalf("Acked() = %d", r.Acked())
	}
}

// TestErrListing checks that Err lists at most MaxReported anomalies per
// kind, with the total.
func TestErrListing(t *testing.T) {
	r := NewRecorder(Config{})
	for i := range 30 {
		r.Poll("c1", 0, rd(p0, int64(i), "phantom-"+string(rune('A'+i))))
	}
	err := r.Check(Options{MaxReported: 3}).Err()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "30 errors (phantom 30)") || lines[4] != "  phantom: ... and 27 more" {
		t.Fatalf("Err():\n%v", err)
	}
	if !strings.HasPrefix(lines[1], `  phantom t-0@0: "phantom-A"`) {
		t.Fatalf("not sorted by offset:\n%v", err)
	}
}
