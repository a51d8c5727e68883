// Package histcheck records what a test's clients did to a partitioned
// commit log and what they saw, and checks that history for the
// anomalies Jepsen's Kafka workload looks for (jepsen/tests/kafka.clj),
// extended with crashes: which records a crash may lose, and which it may
// not. It is the common checker of the durability tests: crash-state
// exploration on an in-memory file system, kill -9 loops of a child
// process, fault injection, replication simulations.
//
// It has no dependency outside the standard library and does not import
// the log it checks: a partition is a Partition{Topic, ID}, a record is a
// value (a string unique per record sent, such as "p2-c5-417") at an
// offset.
//
// # Usage
//
// Record every invocation before calling the system, and its outcome
// after:
//
//	rec := histcheck.NewRecorder(histcheck.Config{})
//	p := histcheck.Partition{Topic: "orders", ID: 0}
//
//	s := rec.Send("p1", p, "p1-0", "p1-1") // before Append
//	res, err := part.Append(ctx, records)
//	switch {
//	case err == nil:
//		s.Ok(res.BaseOffset) // OkNotDurable under SyncInterval/SyncNever
//	case isValidationError(err):
//		s.Fail() // definitely not written
//	default:
//		s.Unknown() // timeout, crash, ErrDurability after the write
//	}
//
//	rec.Poll("c1", epoch, reads...)       // what one Poll returned, in order
//	c := rec.Commit("g", p, next)          // the next offset to consume
//	c.Ok()                                 // or OkNotDurable, Fail, Unknown
//
//	rec.Crash()                            // the system crashed and restarted
//	rec.Final(p, start, end, all)          // a full read after recovery
//	rec.FinalCommit("g", p, committed, ok) // the committed offset after recovery
//
//	if err := rec.Check(histcheck.Options{}).Err(); err != nil {
//		t.Fatal(err)
//	}
//
// Check may run at any time, again and again (every N crash cycles, for
// instance); Result.String summarizes what was checked for the test log.
// Anomalies are sorted by kind, partition, offset and value, and each
// names the partition, offsets, values and processes involved.
//
// # Crashes and what they may lose
//
// Crash divides the history into eras. A crash cuts a suffix off each
// partition (its unsynced tail) and later appends reuse the offsets cut;
// everything below the cut stays as it was. So, across a crash, an offset
// may change value and a record may vanish, but only if all of these
// hold:
//
//   - it was not acknowledged durable (Send.Ok) and, under
//     Options.DurableReads, not polled;
//   - no record above it in its partition was durable while it existed
//     (the durable part of a log is a prefix);
//   - no record above it that existed with it survived the same crash
//     (the loss is a suffix);
//   - under Options.LossWindow, it was acknowledged within the window
//     before the crash.
//
// A record found lost otherwise is a lost-write (or a lost-read, for a
// record read but never acknowledged). Within an era nothing may change:
// an offset never takes a second value, and a final read holds every
// record known before it from its start offset on. Sends and commits in
// flight at a crash become unknown.
//
// A test may record a Final after every crash: each one is checked
// against everything recorded before it, so a history of 50 crash cycles
// checks 50 recovered states. Final and FinalCommit must observe a
// quiescent system (record them after recovery, before writing again).
//
// # Anomalies
//
// lost-write (KindLostWrite): an acknowledged record missing from a
// later final read, or whose offset later holds another value, where no
// crash could have lost it (see above). Jepsen's lost-write: an
// acknowledged value below the highest offset read, never read.
//
// lost-read (KindLostRead): the same for a record that was read but never
// acknowledged (its send's outcome was unknown), or that a consumer
// polled under DurableReads: a consumer saw data that did not last.
//
// inconsistent-offsets (KindInconsistentOffsets): one offset holding two
// values within an era (across acknowledgements, polls and final reads),
// or a record found lost and later seen again.
//
// duplicate (KindDuplicate): one value stored at two offsets or
// partitions: a retried send stored twice.
//
// wrong-offset (KindWrongOffset): a value acknowledged at one offset and
// read only at another: the acknowledgement lied about where it wrote.
//
// G1a (KindAbortedRead): a read returned a value whose send failed
// (Jepsen's aborted read).
//
// phantom (KindPhantom): a read returned a value never sent: garbage or
// a misdecoded record.
//
// nonmonotonic-poll (KindNonmonotonicPoll): within one consumer and
// epoch, a partition's polled offsets not strictly increasing, within
// one poll or between polls (also: a final read out of order).
//
// poll-skip (KindPollSkip): within one consumer and epoch, a poll jumping
// over offsets known to hold records at the time (acknowledged, polled or
// in a final read, and not cut by a crash in between). Offsets never seen
// (transaction markers, records of unknown sends) are not skips.
//
// nonmonotonic-send (KindNonmonotonicSend): a producer's send to a
// partition acknowledged at a lower offset than an earlier one of its
// sends there. By default a send counts as later only if it was invoked
// after the other's acknowledgement; Options.PipelinedSends compares in
// invocation order, for producers that keep the order of sends in flight.
//
// commit-regression (KindCommitRegression): a group's acknowledged commit
// for a partition below one acknowledged before it was invoked (since the
// last ResetCommit; a not-durable commit counts only until the next
// crash), or a committed offset found after recovery (FinalCommit) below
// the last one acknowledged durable, or missing.
//
// commit-ahead (KindCommitAhead): a committed offset past the end of the
// partition's data: an acknowledged commit above the end of a final read
// recorded after it (of the same era, for a not-durable commit), or a
// FinalCommit above the end of that era's final reads. A commit never
// points past durable data.
//
// unseen (KindUnseen): acknowledged records never returned by a poll or
// a final read, one anomaly per partition with a count and examples. A
// warning unless Options.RequireSeen.
//
// invalid-history (KindInvalidHistory): the test broke the Recorder's
// rules: a value sent twice, a handle completed twice, a negative offset,
// a final read holding records outside its range or partition.
//
// Deliveries of one value to two consumers (redelivery after a rebalance)
// are not anomalies here: at-least-once delivery allows them.
//
// # Options
//
// The zero Options fits a single node whose acknowledgements say
// themselves whether they are durable (Ok or OkNotDurable). DurableReads
// adds that consumers only see durable records (SyncAlways: a consumer
// never reads past the durable end), so a crash may not lose what was
// polled. LossWindow bounds what a crash may lose of records acknowledged
// not durable, by acknowledgement time (SyncInterval(d): d plus slack);
// zero bounds it only by the suffix rule (SyncNever). Compacted names
// topics whose partitions legitimately have holes: poll skips and records
// missing from final reads are not reported there. PipelinedSends is
// described above; RequireSeen makes unseen an error; Allow downgrades
// kinds a mode tolerates to warnings; MaxReported bounds the listing in
// Result.Err.
//
// # Processes and the line format
//
// A Recorder with Config.Output writes each event as one line as it is
// recorded; with Config.WriteOnly it keeps nothing else. A Decoder applies
// such lines to another Recorder. In a kill -9 test the child records into
// NewRecorder(Config{Output: os.Stdout, WriteOnly: true}); the parent sets
// the child's stdout to rec.NewDecoder() (a new Decoder per child: handle
// ids are per writer), kills the child, waits for it (exec's Wait returns
// once all output is applied), calls rec.Crash(), reopens the log, records
// Final and FinalCommit, and starts the next child. A line cut short by
// the kill is never applied; a send whose acknowledgement line was lost is
// unknown, which is always safe. Acknowledgement lines carry the child's
// clock, Crash the parent's (both time.Now, on one machine). Consumers of
// a restarted child must start new epochs (a Crash ends them all).
//
// Lines start with "hc " (other lines are ignored) and hold fields
// separated by one space. A field is written as is when it is non-empty,
// printable ASCII without spaces and does not start with '"'; otherwise
// it is Go-quoted (strconv.Quote), so any value round-trips. Values the
// test chooses should be plain. Times are Unix nanoseconds. ids are the
// writer's handle ids.
//
//	hc send <id> <producer> <topic> <partition> <value>...
//	hc ok <id> <base> <time>
//	hc ok-not-durable <id> <base> <time>
//	hc fail <id>
//	hc unknown <id>
//	hc poll <consumer> <epoch> [<topic> <partition> <offset> <value>]...
//	hc seek <consumer> <epoch> <topic> <partition> <offset>
//	hc commit <id> <group> <topic> <partition> <offset>
//	hc commit-ok <id>
//	hc commit-ok-not-durable <id>
//	hc commit-fail <id>
//	hc commit-unknown <id>
//	hc reset-commit <group> <topic> <partition> <offset>
//	hc crash <time>
//	hc final <topic> <partition> <start> <end> [<offset> <value>]...
//	hc final-commit <group> <topic> <partition> <offset>|none
//
// In a final line, a record of another partition (an invalid history) is
// written "* <topic> <partition> <offset> <value>".
//
// # Cost
//
// The Recorder keeps facts, not events: per record seen, one version
// (value, offset, eras seen, how it is known, about 90 bytes), an entry
// in a value map and 4 bytes of offset index; per send its values and
// about 80 bytes. A poll or final read of records already known adds
// nothing. A random history of 100,000 events keeps about 160 bytes per
// event (TestRecorderMemory); a Decoder adds a handle per send and
// commit it decoded. Recording and checking run at about a million
// events a second (BenchmarkCheck), Check in time linear in records and
// sends, plus sorting the versions of partitions where records were lost.
package histcheck
