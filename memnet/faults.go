package memnet

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/commitlog-go/commitlog"
)

// Faults are what a link does to the messages sent over it. The zero value
// is a perfect link: it delivers every message once, at once, in order.
//
// Each message's fate is drawn when it is sent, as a pure function of the
// Network's Seed, the link and the message's sequence number on the link
// (see Network): the probabilities are those of independent draws per
// message, and the same seed gives every message the same fate however
// goroutines interleave.
//
// Out-of-range values are read as the nearest valid one, so no Faults value
// is an error: a probability below 0 (or NaN) as 0, above 1 as 1; a
// negative delay as 0; a MaxDelay below MinDelay as MinDelay.
type Faults struct {
	// Drop is the probability that a message is lost.
	Drop float64
	// Duplicate is the probability that a message not dropped is
	// delivered twice. The copy follows the original after a delay of its
	// own, drawn from [MinDelay, MaxDelay], outside the link's order: it
	// may arrive after messages sent later.
	Duplicate float64
	// Reorder is the probability that a message not dropped is held back:
	// delivered after an extra delay drawn from [MinDelay, MaxDelay],
	// outside the link's order, so that messages sent after it can arrive
	// first. It needs MaxDelay > 0: on a link without delays nothing is
	// held back.
	Reorder float64
	// MinDelay and MaxDelay bound each message's delay, drawn uniformly
	// from [MinDelay, MaxDelay] with nanosecond resolution. A link keeps
	// its order even so: the messages on it that are not held back arrive
	// in the order sent, a message that draws a shorter delay than its
	// predecessor waiting for it (so no later than its own MaxDelay).
	MinDelay, MaxDelay time.Duration
}

// normalized returns f with every field in its valid range (see Faults).
func (f Faults) normalized() Faults {
	f.Drop, f.Duplicate, f.Reorder = probability(f.Drop), probability(f.Duplicate), probability(f.Reorder)
	f.MinDelay = max(f.MinDelay, 0)
	f.MaxDelay = max(f.MaxDelay, f.MinDelay)
	return f
}

func probability(p float64) float64 {
	if math.IsNaN(p) || p < 0 {
		return 0
	}
	return min(p, 1)
}

// fate is what the faults of a link do to one message.
type fate struct {
	drop, duplicate, reorder bool
	// delay is the message's delay; hold the extra delay of a reordered
	// message; duplicateDelay how long after the original the duplicate
	// comes.
	delay, hold, duplicateDelay time.Duration
}

// decide draws the fate of message seq on link l under faults f (already
// normalized), from a generator seeded by (seed, l, seq) alone. It always
// draws the same values in the same order, whatever f says, so that a
// message's draws do not depend on the faults of the link: raising Drop
// drops more messages without changing the delays of the others.
func decide(seed uint64, l Link, seq uint64, f Faults) fate {
	link := mix64(uint64(uint32(l.From))<<32 | uint64(uint32(l.To)))
	var r rand.PCG
	// (seed, link) picks the first word, (link, seq) the second: distinct
	// (link, seq) pairs get distinct generator states for one seed.
	r.Seed(mix64(seed^link), mix64(seq+link))
	uniform := func() float64 { return float64(r.Uint64()>>11) / (1 << 53) } // [0, 1)
	between := func() time.Duration {
		hi, _ := bits.Mul64(r.Uint64(), uint64(f.MaxDelay-f.MinDelay)+1)
		return f.MinDelay + time.Duration(hi)
	}
	drop, duplicate, reorder := uniform(), uniform(), uniform()
	delay, hold, duplicateDelay := between(), between(), between()
	return fate{
		drop:           drop < f.Drop,
		duplicate:      duplicate < f.Duplicate,
		reorder:        reorder < f.Reorder && f.MaxDelay > 0,
		delay:          delay,
		hold:           hold,
		duplicateDelay: duplicateDelay,
	}
}

// mix64 is SplitMix64's finalizer: a bijection of uint64 that spreads
// every input bit over every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// SetFaults gives every link the faults f, replacing those SetLinkFaults
// gave single links, for messages sent from now on: messages in flight
// keep the fate they drew when sent.
func (n *Network) SetFaults(f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = f.normalized()
	for _, ls := range n.links {
		ls.faults = nil
	}
}

// SetLinkFaults gives the link from one node to another (one direction
// only) the faults f, instead of those of SetFaults or Config.Faults, for
// messages sent from now on. A later SetFaults replaces them.
func (n *Network) SetLinkFaults(from, to commitlog.NodeID, f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f = f.normalized()
	n.linkLocked(Link{From: from, To: to}).faults = &f
}
