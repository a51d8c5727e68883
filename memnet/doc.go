// Package memnet is an in-memory network for replicated commitlog Logs in
// one process: a commitlog.Transport whose faults (lost, delayed,
// duplicated and reordered messages; one-way and symmetric partitions) are
// drawn from a seed, so that a failing run replays exactly. It is the test
// bed of the replication protocol, and is meant for users' tests too.
//
// # Model
//
// Nodes are commitlog.NodeIDs. A node that calls Listen receives the
// messages addressed to it; a message is sent on behalf of its From node,
// which need not listen. A link is one direction between two nodes
// (Link{From, To}), and the messages sent over a link are numbered 1, 2,
// 3, ... in the order Send is called for them.
//
// When a message is sent, its link's Faults draw its fate: lost (Drop),
// delivered twice (Duplicate), held back so that messages sent after it
// overtake it (Reorder), and its delay, from [MinDelay, MaxDelay]. The
// fate is a pure function of (Config.Seed, From, To, the message's number
// on its link): it does not depend on how goroutines interleave, nor on
// other links' traffic, and the draws do not depend on the Faults either,
// only their comparison with the probabilities: with the same seed, more
// Drop drops the same messages and more. Messages on a link that are not
// held back arrive in the order sent; a duplicate comes after its original
// but may come after later messages too. Faults apply to every link,
// or per link (SetFaults, SetLinkFaults), and change at run time.
//
// A message is dropped instead of delivered if its link is cut (Block,
// Partition, Isolate) when it is sent or when it falls due, or if its
// receiver does not listen then: partitions cut messages already in
// flight, and a node that stops listening loses what was on its way. A
// node always reaches itself. Stats counts every message's fate, per link
// and in total.
//
// Each listening node has one goroutine of the Network's, which calls its
// deliver function for each message as it falls due, one at a time; of
// the messages due, first the one due earliest, then the one from the
// lowest node, then the one with the lowest number on its link (an
// original before its duplicate). Each delivery hands the receiver a copy
// of its own, made by Send before it returns: Message.Clone, or under
// Config.Encode the message's binary encoding decoded again, as a network
// transport would.
//
// # Time and determinism
//
// Delays are measured with the time package: real time in an ordinary
// test, virtual time inside a testing/synctest bubble, where a cluster
// goes through minutes of delays in microseconds and no test sleeps.
//
// Under synctest, with every delay > 0 (MinDelay > 0 on every link), the
// sequence of messages delivered to each node is exactly reproducible
// from the seed, given the same sends per link at the same virtual times
// (and the same cuts): every message due at an instant was sent before
// that instant, so how the bubble's goroutines interleave changes neither
// which messages fall due together nor their order. With zero delays a
// message is due the moment it is sent, so which messages a node's
// goroutine finds due together depends on scheduling: each message's fate
// is still the seed's, the interleaving of links at a node may not be.
//
// A Network used in a bubble must be created there, and used and closed
// only from the bubble's goroutines (its goroutines and channels belong to
// the bubble); synctest.Test returns only once every goroutine of the
// bubble has exited, so Close the Network before the test function
// returns.
//
// # Usage
//
// A test builds the network inside a bubble, hands it to every node as
// its commitlog.Transport, and cuts and heals links while the nodes run:
//
//	func TestFailover(t *testing.T) {
//		for seed := range uint64(50) {
//			synctest.Test(t, func(t *testing.T) {
//				net := memnet.New(memnet.Config{Seed: seed, Faults: memnet.Faults{
//					Drop: 0.05, Duplicate: 0.01, Reorder: 0.05,
//					MinDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond,
//				}})
//				defer net.Close()
//				// Start nodes 1, 2 and 3 with net as their Transport.
//				net.Partition([]commitlog.NodeID{1}, []commitlog.NodeID{2, 3})
//				// Let virtual time pass (timers, synctest.Wait), then check.
//				net.Heal()
//				// Check again; on failure, report the seed and net.Stats().
//			})
//		}
//	}
package memnet
