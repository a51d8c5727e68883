// Package produce is the batching engine under a producer: per-partition
// accumulators that encode records into Kafka record batches
// (record.Builder) as they are added, the buffer limits producers wait on,
// linger, one sender per partition with a batch to send, idempotent
// sequence numbers, and the completer goroutine that reports outcomes in
// order. It knows nothing of where batches go or of the public API above
// it: it is generic over the record type R of its owner, and gets
// everything else through Config (the clock and timer of linger, Encode
// for a record, Report for a batch's outcome) and a Sink per partition,
// which builds each batch and sends it: to a local partition for the root
// package's Producer, to a Kafka broker for a producer that talks to one.
//
// The life of a record:
//
//   - The owner validates it, chooses its partition, and accounts its
//     upper-bound size with Engine.Reserve, which waits (or fails with
//     ErrFull) while MaxBufferedBytes or MaxBufferedRecords is reached.
//   - Partition.Add encodes it into the partition's open batch (Encode).
//     A batch closes at PartitionConfig.BatchBytes. Without Linger a batch
//     goes as soon as the partition's previous batch is done, so batches
//     grow by themselves under load and a lone record goes at once; with
//     Linger it waits that long for more, unless Flush or Close wants it.
//   - The partition's sender, a goroutine that runs while the partition has
//     a batch to send and exits after, sends its batches one at a time
//     (Sink.Send) and hands each to the completer, then calls Sink.Sent.
//   - A Sink may pipeline: return from Send once the batch is stored, with
//     an Ack that waits for its acknowledgement (a replicated partition's
//     commitment). The sender then goes on to the next batch, up to
//     Config.MaxInFlight batches in flight, and the partition's acker, a
//     goroutine that runs while batches are in flight, calls the Acks in
//     order and hands the batches over. A failed Ack fails the batches
//     stored after it too, and an idempotent partition starts a new
//     producer epoch (see Partition and Config.Idempotent).
//   - The completer calls Report for each batch in the order senders and
//     ackers hand them over, so for one partition in the order the
//     batches were started, serially with the promises of records that
//     failed before entering a batch (Engine.Fail). Only after Report
//     returns is the batch's buffer space released, and the batch kept for
//     reuse while the memory it keeps fits in MaxBufferedBytes with what
//     is buffered.
//
// Goroutines: the completer (started by New), the senders, the ackers and
// the linger timers; Close waits for all of them, after sending every
// batch and waiting for every acknowledgement.
//
// What stays with the owner, and why: the public Record and promise types
// (R is the owner's record, and Report fills in its offsets), validation
// and the size bound of a record (the owner knows its limits), the
// partitioner, the timestamp of a record without one, and what a Sink
// does: building the batch (and, for a local partition, rebuilding it
// uncompressed when compression made it larger than the topic allows),
// appending or sending it, and acknowledging it. Errors: Reserve's
// ErrFull and ErrClosed are this package's, for the owner to translate;
// the errors of a Sink reach Report as they are.
package produce
