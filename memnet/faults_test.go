package memnet

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultsNormalized(t *testing.T) {
	got := Faults{Drop: -1, Duplicate: 2, Reorder: math.NaN(), MinDelay: -5, MaxDelay: -10}.normalized()
	require.Equal(t, Faults{Duplicate: 1}, got)
	got = Faults{Drop: 0.5, MinDelay: 10 * time.Millisecond, MaxDelay: 5 * time.Millisecond}.normalized()
	require.Equal(t, Faults{Drop: 0.5, MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}, got)
	require.Equal(t, Faults{}, Faults{}.normalized())
}

// TestDecideIsPure checks that a message's fate depends on (seed, link,
// number) alone, and that the draws do not depend on the faults.
func TestDecideIsPure(t *testing.T) {
	f := Faults{Drop: 0.3, Duplicate: 0.3, Reorder: 0.3, MinDelay: time.Millisecond, MaxDelay: time.Second}
	more := f
	more.Drop = 0.6
	l := Link{From: 1, To: 2}
	differ := map[string]bool{}
	for seq := range uint64(1000) {
		a := decide(7, l, seq, f)
		require.Equal(t, a, decide(7, l, seq, f))
		b := decide(7, l, seq, more)
		require.True(t, !a.drop || b.drop, "more Drop keeps every drop")
		b.drop = a.drop
		require.Equal(t, a, b, "Drop changes drops only")
		differ["seed"] = differ["seed"] || a != decide(8, l, seq, f)
		differ["reverse link"] = differ["reverse link"] || a != decide(7, Link{From: 2, To: 1}, seq, f)
		differ["next"] = differ["next"] || a != decide(7, l, seq+1, f)
	}
	require.Equal(t, map[string]bool{"seed": true, "reverse link": true, "next": true}, differ)
}

// rate requires got/of to be within 0.03 of want.
func rate(t *testing.T, want float64, got, of uint64, what string) {
	t.Helper()
	r := float64(got) / float64(of)
	require.InDelta(t, want, r, 0.03, "%s: %d of %d", what, got, of)
}

func TestDropRate(t *testing.T) {
	for _, p := range []float64{0, 0.1, 0.5, 0.9, 1} {
		synctest.Test(t, func(t *testing.T) {
			n := New(Config{Seed: 11, Faults: Faults{Drop: p}})
			defer n.Close()
			r1, r2 := listen(t, n, 1), listen(t, n, 2)
			const msgs = 4000
			for seq := range uint64(msgs) {
				send(t, n, fetch(2, 1, seq))
				send(t, n, fetch(1, 2, seq))
			}
			synctest.Wait()
			s := n.Stats()
			require.Equal(t, uint64(2*msgs), s.Sent)
			require.Zero(t, s.InFlight())
			for l, r := range map[Link]*recorder{{2, 1}: r1, {1, 2}: r2} {
				c := s.Links[l]
				rate(t, p, c.DroppedByFault, c.Sent, "drops")
				require.Equal(t, c.Sent-c.DroppedByFault, uint64(len(r.got())))
				require.Equal(t, c.Delivered, uint64(len(r.got())))
			}
		})
	}
}

func TestDuplicateRate(t *testing.T) {
	for _, p := range []float64{0, 0.2, 0.7, 1} {
		synctest.Test(t, func(t *testing.T) {
			f := Faults{Duplicate: p, Drop: 0.1, MinDelay: time.Millisecond, MaxDelay: 3 * time.Millisecond}
			n := New(Config{Seed: 12, Faults: f})
			defer n.Close()
			r := listen(t, n, 2)
			const msgs = 4000
			for seq := range uint64(msgs) {
				send(t, n, fetch(1, 2, seq+1)) // Seq is the number on the link
			}
			advance(time.Second)
			times := map[uint64]int{}
			for _, seq := range r.seqs() {
				times[seq]++
			}
			var twice uint64
			for seq := range uint64(msgs) {
				fate := decide(12, Link{1, 2}, seq+1, f)
				want := 1
				switch {
				case fate.drop:
					want = 0
				case fate.duplicate:
					want = 2
					twice++
				}
				require.Equal(t, want, times[seq+1], "deliveries of message %d", seq+1)
			}
			s := n.Stats()
			require.Equal(t, twice, s.Duplicated)
			rate(t, p, twice, s.Sent-s.DroppedByFault, "duplicates")
		})
	}
}

func TestReorderRate(t *testing.T) {
	for _, p := range []float64{0, 0.1, 0.4} {
		synctest.Test(t, func(t *testing.T) {
			const delay = 10 * time.Millisecond
			f := Faults{Reorder: p, MinDelay: delay, MaxDelay: delay}
			n := New(Config{Seed: 13, Faults: f})
			defer n.Close()
			r := listen(t, n, 2)
			const msgs = 4000
			for seq := range uint64(msgs) {
				send(t, n, fetch(1, 2, seq+1))
				<-time.After(time.Millisecond) // ten messages follow within a delay
			}
			advance(time.Second)
			seqs := r.seqs()
			require.Len(t, seqs, msgs)
			// A message is late if one sent after it came first. Exactly
			// the messages held back are late.
			var late, highest uint64
			for _, seq := range seqs {
				held := decide(13, Link{1, 2}, seq, f).reorder
				require.Equal(t, held, seq < highest, "message %d held back, late", seq)
				if seq < highest {
					late++
				}
				highest = max(highest, seq)
			}
			require.Equal(t, late, n.Stats().Reordered)
			rate(t, p, late, msgs, "late messages")
		})
	}
}

func TestReorderNeedsDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{Reorder: 1}})
		defer n.Close()
		r := listen(t, n, 2)
		for seq := range uint64(100) {
			send(t, n, fetch(1, 2, seq))
		}
		synctest.Wait()
		require.IsIncreasing(t, r.seqs())
		require.Zero(t, n.Stats().Reordered)
	})
}

// TestDelaysWithinBounds sends messages further apart than the largest
// delay, so that each arrives after its own delay.
func TestDelaysWithinBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lo, hi, spacing = 2 * time.Millisecond, 8 * time.Millisecond, 10 * time.Millisecond
		n := New(Config{Seed: 14, Faults: Faults{MinDelay: lo, MaxDelay: hi}})
		defer n.Close()
		r := listen(t, n, 2)
		start := time.Now()
		const msgs = 2000
		for seq := range uint64(msgs) {
			send(t, n, fetch(1, 2, seq))
			<-time.After(spacing)
		}
		advance(time.Second)
		got := r.got()
		require.Len(t, got, msgs)
		shortest, longest, total := time.Duration(math.MaxInt64), time.Duration(0), time.Duration(0)
		for _, a := range got {
			d := a.at.Sub(start.Add(time.Duration(seqOf(a.msg)) * spacing))
			require.True(t, d >= lo && d <= hi, "message %d took %v", seqOf(a.msg), d)
			shortest, longest, total = min(shortest, d), max(longest, d), total+d
		}
		require.Less(t, shortest, lo+hi/20)
		require.Greater(t, longest, hi-hi/20)
		require.InDelta(t, float64(lo+hi)/2, float64(total/msgs), float64(hi-lo)/20, "mean delay")
	})
}

// TestLinkKeepsOrder sends messages closer together than their delays
// vary: a message drawing a shorter delay waits for its predecessor.
func TestLinkKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hi = 20 * time.Millisecond
		n := New(Config{Seed: 15, Faults: Faults{MaxDelay: hi}})
		defer n.Close()
		r := listen(t, n, 2)
		start := time.Now()
		const msgs = 1000
		for seq := range uint64(msgs) {
			send(t, n, fetch(1, 2, seq))
			<-time.After(time.Millisecond)
		}
		advance(time.Second)
		got := r.got()
		require.Len(t, got, msgs)
		require.IsIncreasing(t, r.seqs())
		for _, a := range got {
			d := a.at.Sub(start.Add(time.Duration(seqOf(a.msg)) * time.Millisecond))
			require.True(t, d >= 0 && d <= hi, "message %d took %v", seqOf(a.msg), d)
		}
	})
}

func TestSetLinkFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{})
		defer n.Close()
		r1, r2, r3 := listen(t, n, 1), listen(t, n, 2), listen(t, n, 3)
		n.SetLinkFaults(1, 2, Faults{Drop: 1})
		send(t, n, fetch(1, 2, 1))
		send(t, n, fetch(2, 1, 1))
		send(t, n, fetch(1, 3, 1))
		synctest.Wait()
		require.Empty(t, r2.got(), "1->2 drops everything")
		require.Len(t, r1.got(), 1, "2->1 is another link")
		require.Len(t, r3.got(), 1)

		n.SetFaults(Faults{}) // replaces the link's faults
		send(t, n, fetch(1, 2, 2))
		synctest.Wait()
		require.Equal(t, []uint64{2}, r2.seqs())
	})
}

// TestFaultsApplyWhenSent checks that a message in flight keeps the fate
// it drew when sent.
func TestFaultsApplyWhenSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(Config{Faults: Faults{MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}})
		defer n.Close()
		r := listen(t, n, 2)
		send(t, n, fetch(1, 2, 1))
		n.SetFaults(Faults{Drop: 1})
		send(t, n, fetch(1, 2, 2))
		advance(time.Second)
		require.Equal(t, []uint64{1}, r.seqs())
		require.Equal(t, Counters{Sent: 2, Delivered: 1, DroppedByFault: 1}, n.Stats().Counters)
	})
}
