// Package replica is the replica state machine of one partition, with no
// I/O, in etcd/raft's style: Kafka's in-sync replica model (kafka-semantics
// §8) as a value that takes inputs and returns decisions.
//
// Inputs: the controller's partition state (Update), a follower's fetch
// as leader (HandleFetch), the leader's answer as follower
// (HandleFetchResponse), a local append or fsync (LocalAppended), the
// passing of time (Tick), and the driver's confirmations (Truncated,
// Appended, AlterISRFailed). Time is always an argument; the machine reads
// the local log only through the Log interface, and never writes.
//
// Outputs: Effects (a leader epoch to record before appending in it, a new
// high watermark to publish, an in-sync set to propose to the controller),
// a FetchAnswer (refused, diverging, or read from an offset), a
// FollowerStep (truncate, or reset the log to restart it empty, append the
// leader's batches verbatim, apply the leader's high watermark, raise the
// log start to the leader's), the next Fetch to send, and the verdicts on
// appends (CheckAppend, AckAllStatus).
//
// The rules, by the reference's numbers: the fetch is the acknowledgement
// (8.2.2), the follower's high watermark is the leader's capped at its end
// (8.2.4), fetches of an earlier incarnation are refused (8.2.5); a
// follower is caught up while its end is the leader's or was within
// LagTime (8.3.1), leaves the ISR when the controller commits the
// leader's proposal (8.3.2), rejoins at the high watermark and the
// leader's epoch start (8.3.3), and counts while its addition is pending
// (8.3.4); the high watermark is the least end over the ISR and the
// caught-up replicas outside it (8.4.1), frozen while the ISR is below
// MinISR (8.4.2), monotone on a leader (8.4.3); a follower whose log
// diverges truncates to the leader's end of their last common epoch,
// repeating when it does not know the leader's answer (8.5.4, KIP-279),
// found on every fetch (8.5.5), never by high watermark; a follower whose
// log ends below the leader's log start restarts it empty there (Kafka's
// truncateFullyAndStartAt), and takes the leader's log start as its own,
// up to its high watermark (2.8.1); a leader never proposes an empty ISR
// (8.6.4). Every message is fenced: fetches by
// leader epoch, incarnation and sequence number, responses by the same,
// controller states by leader and partition epoch, so that messages lost,
// delayed, duplicated or reordered are harmless.
//
// [D] A follower reports as its end what the driver's Log.AckedOffset
// says: under SyncAlways its durable end, so a record is committed only
// once it is on disk on MinISR replicas.
//
// Not safe for concurrent use: the driver serializes calls per partition.
package replica
