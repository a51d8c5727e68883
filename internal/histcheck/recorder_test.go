package histcheck

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestOffsetIndex checks the dense and sparse halves of the offset index.
func TestOffsetIndex(t *testing.T) {
	var x offsetIndex
	x.set(1<<40, 7)
	x.set(-3, 8)
	x.set(5, 1)
	x.set(0, 2)
	if len(x.dense) != 6 || len(x.sparse) != 2 {
		t.Fatalf("dense %d sparse %d", len(x.dense), len(x.sparse))
	}
	x.set(3000, 9) // past twice the dense length: sparse
	if len(x.sparse) != 3 {
		t.Fatalf("sparse %d", len(x.sparse))
	}
	for o := int64(6); o <= 3001; o++ {
		if o != 3000 {
			x.set(o, int32(o))
		}
	}
	if len(x.sparse) != 2 || x.dense[3000] != 9 {
		t.Fatalf("3000 not moved to the dense part: sparse %v", x.sparse)
	}
	for _, c := range []struct {
		off int64
		vi  int32
		ok  bool
	}{{1 << 40, 7, true}, {-3, 8, true}, {5, 1, true}, {0, 2, true}, {1, -1, false}, {4000, 0, false}, {-1, 0, false}} {
		if vi, ok := x.get(c.off); ok != c.ok || ok && vi != c.vi {
			t.Errorf("get(%d) = %d, %v", c.off, vi, ok)
		}
	}
	got := x.sorted()
	if !slices.IsSorted(got) || len(got) != 3000 || got[0] != -3 || got[1] != 0 || got[2] != 5 || got[len(got)-1] != 1<<40 {
		t.Fatalf("sorted: %d offsets, %v...%v", len(got), got[:3], got[len(got)-1])
	}
}

// TestFarOffsets checks a history with an absurd offset: it costs one
// entry, and is checked like any other.
func TestFarOffsets(t *testing.T) {
	r := NewRecorder(Config{})
	ok(r, p0, 0, "a")
	ok(r, p0, 1<<40, "b")
	r.Poll("c1", 0, rd(p0, 0, "a"), rd(p0, 1<<40, "b"))
	final(r, p0, 0, 1)
	res := r.Check(Options{})
	if k := res.Kinds(); !slices.Equal(k, []Kind{KindLostWrite}) || len(res.Anomalies) != 2 {
		t.Fatalf("%v", res.Anomalies)
	}
	if ps := r.h.partList[0].offsets; len(ps.dense) != 1 || len(ps.sparse) != 1 {
		t.Fatalf("dense %d, sparse %d", len(ps.dense), len(ps.sparse))
	}
}

// TestZeroRecorder checks that the zero Recorder works.
func TestZeroRecorder(t *testing.T) {
	var r Recorder
	r.Send("p1", p0, "a").Ok(0)
	r.Poll("c1", 0, rd(p0, 0, "a"))
	if res := r.Check(Options{RequireSeen: true}); res.Err() != nil || res.Acked != 1 {
		t.Fatalf("%s", res)
	}
}

// TestConcurrentRecording records from many goroutines at once, against a
// log kept by the test, and checks that the history is clean.
func TestConcurrentRecording(t *testing.T) {
	const producers, consumers, sends = 4, 3, 500
	var logs [2]struct {
		sync.Mutex
		values []string
	}
	parts := [2]Partition{p0, p1}
	r := NewRecorder(Config{})
	var wg sync.WaitGroup
	for w := range producers {
		wg.Go(func() {
			for i := range sends {
				pi := (w + i) % 2
				v := fmt.Sprintf("p%d-%d", w, i)
				s := r.Send(fmt.Sprint("p", w), parts[pi], v)
				l := &logs[pi]
				l.Lock()
				off := int64(len(l.values))
				l.values = append(l.values, v)
				l.Unlock()
				s.Ok(off)
			}
		})
	}
	for c := range consumers {
		wg.Go(func() {
			var pos [2]int64
			for range 200 {
				var reads []Read
				for pi := range parts {
					l := &logs[pi]
					l.Lock()
					for ; pos[pi] < int64(len(l.values)) && len(reads) < 10; pos[pi]++ {
						reads = append(reads, rd(parts[pi], pos[pi], l.values[pos[pi]]))
					}
					l.Unlock()
				}
				r.Poll(fmt.Sprint("c", c), 0, reads...)
				if c == 0 {
					r.Commit("g", p0, pos[0]).Ok()
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = r.Check(Options{}) // while recording goes on
		}
	})
	wg.Wait()
	for pi := range logs {
		var reads []Read
		for o, v := range logs[pi].values {
			reads = append(reads, rd(parts[pi], int64(o), v))
		}
		r.Final(parts[pi], 0, int64(len(reads)), reads)
	}
	res := r.Check(Options{RequireSeen: true})
	if err := res.Err(); err != nil || res.Acked != producers*sends {
		t.Fatalf("%s\n%v", res, err)
	}
}
