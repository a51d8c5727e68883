package histcheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is a kind of anomaly. Its String is the name Jepsen's Kafka
// checker uses, where it has one.
type Kind uint8

// The kinds of anomaly, in the order Result lists them. See the package
// documentation for what each one means and what explains it away.
const (
	// KindLostWrite: an acknowledged record is missing from a later final
	// read, or its offset holds another record, and no crash could have
	// lost it (it was acknowledged durable, or lies below a durable one,
	// or a record above it survived, or it was acknowledged longer than
	// Options.LossWindow before the crash, or no crash happened since).
	KindLostWrite Kind = iota
	// KindLostRead: the same for a record that was read but never
	// acknowledged (from an unknown send), or polled under
	// Options.DurableReads.
	KindLostRead
	// KindInconsistentOffsets: one offset held two values with no crash
	// in between, or a record found lost was seen again.
	KindInconsistentOffsets
	// KindDuplicate: one value stored at two offsets (or partitions).
	KindDuplicate
	// KindWrongOffset: a value acknowledged at one offset and read at
	// another, and never read at the acknowledged one.
	KindWrongOffset
	// KindAbortedRead (G1a): a read returned a value whose send failed.
	KindAbortedRead
	// KindPhantom: a read returned a value that was never sent.
	KindPhantom
	// KindNonmonotonicPoll: within one consumer and epoch (or one final
	// read), the offsets of a partition did not strictly increase.
	KindNonmonotonicPoll
	// KindPollSkip: within one consumer and epoch, a poll skipped offsets
	// that are known to hold records.
	KindPollSkip
	// KindNonmonotonicSend: a producer's send acknowledged at a lower
	// offset than an earlier send of it to the same partition.
	KindNonmonotonicSend
	// KindCommitRegression: a group's committed offset went backwards: an
	// acknowledged commit below an earlier one, or the offset found after
	// recovery below one acknowledged durable.
	KindCommitRegression
	// KindCommitAhead: a committed offset past the end of the partition's
	// data as a later (or, after recovery, a simultaneous) final read
	// shows it.
	KindCommitAhead
	// KindUnseen: acknowledged records that no poll or final read
	// returned. A warning unless Options.RequireSeen.
	KindUnseen
	// KindInvalidHistory: the history breaks the Recorder's rules (a value
	// sent twice, a handle completed twice, a negative offset, a final
	// read holding records outside its range).
	KindInvalidHistory

	numKinds = iota
)

var kindNames = [numKinds]string{
	"lost-write", "lost-read", "inconsistent-offsets", "duplicate", "wrong-offset", "G1a", "phantom",
	"nonmonotonic-poll", "poll-skip", "nonmonotonic-send", "commit-regression", "commit-ahead", "unseen",
	"invalid-history",
}

// String returns the kind's name, such as "lost-write".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Anomaly is one anomaly found in a history.
type Anomaly struct {
	Kind Kind
	// Partition is the partition involved; zero for invalid-history.
	Partition Partition
	// Offset is the offset involved, or -1.
	Offset int64
	// Value is the value involved, or "".
	Value string
	// Detail says what was seen, naming the processes, offsets and values
	// involved.
	Detail string
	// Warning is true when the options tolerate the anomaly: it is not in
	// Result.Err.
	Warning bool
}

// String returns "kind partition@offset: detail".
func (a Anomaly) String() string {
	var b strings.Builder
	b.WriteString(a.Kind.String())
	if a.Partition != (Partition{}) {
		b.WriteByte(' ')
		b.WriteString(a.Partition.String())
		if a.Offset >= 0 {
			b.WriteByte('@')
			b.WriteString(strconv.FormatInt(a.Offset, 10))
		}
	}
	b.WriteString(": ")
	b.WriteString(a.Detail)
	return b.String()
}

// Result is what Check found.
type Result struct {
	// Anomalies holds every anomaly found, sorted by kind, partition,
	// offset, value and detail.
	Anomalies []Anomaly

	Sends        int // sends recorded
	SendsOK      int // sends acknowledged, durable or not
	SendsFailed  int // sends that failed
	SendsUnknown int // sends whose outcome is unknown, including those never completed
	Acked        int // records acknowledged
	AckedLost    int // records acknowledged not durable and lost in a crash, as allowed
	Polled       int // records returned by polls
	FinalReads   int // final reads
	FinalRecords int // records in final reads
	Commits      int // commits recorded
	CommitsOK    int // commits acknowledged, durable or not
	Partitions   int // partitions seen
	Crashes      int // crashes recorded

	maxReported int
}

// Of returns the anomalies of kind k.
func (r *Result) Of(k Kind) []Anomaly {
	var out []Anomaly
	for _, a := range r.Anomalies {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

// Kinds returns the kinds found, in order, each once.
func (r *Result) Kinds() []Kind {
	var out []Kind
	for _, a := range r.Anomalies {
		if len(out) == 0 || out[len(out)-1] != a.Kind {
			out = append(out, a.Kind)
		}
	}
	return out
}

// Err returns nil when every anomaly is a warning, and otherwise an error
// listing, for each kind, its count and its first anomalies
// (Options.MaxReported of them), one a line.
func (r *Result) Err() error {
	errs, _ := r.tally()
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "histcheck: %s", r.String())
	shown := map[Kind]int{}
	for _, a := range r.Anomalies {
		if a.Warning {
			continue
		}
		if shown[a.Kind]++; shown[a.Kind] <= r.maxReported {
			b.WriteString("\n  ")
			b.WriteString(a.String())
		} else if shown[a.Kind] == r.maxReported+1 {
			fmt.Fprintf(&b, "\n  %s: ... and %s more", a.Kind, thousands(counts(errs)[a.Kind]-r.maxReported))
		}
	}
	return errors.New(b.String())
}

type kindCount struct {
	kind Kind
	n    int
}

func counts(cs []kindCount) map[Kind]int {
	m := map[Kind]int{}
	for _, c := range cs {
		m[c.kind] = c.n
	}
	return m
}

// tally counts the errors and the warnings by kind, in kind order.
func (r *Result) tally() (errs, warns []kindCount) {
	var e, w [numKinds]int
	for _, a := range r.Anomalies {
		if a.Warning {
			w[a.Kind]++
		} else {
			e[a.Kind]++
		}
	}
	for k := range Kind(numKinds) {
		if e[k] > 0 {
			errs = append(errs, kindCount{k, e[k]})
		}
		if w[k] > 0 {
			warns = append(warns, kindCount{k, w[k]})
		}
	}
	return errs, warns
}

// String summarizes the result in one line, such as "checked 12,345
// acknowledged records of 3,000 sends (2 failed, 5 unknown), 40,000
// polled, 50 final reads and 120 commits over 3 partitions and 50
// crashes: no anomalies".
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %s acknowledged records", thousands(r.Acked))
	if r.AckedLost > 0 {
		fmt.Fprintf(&b, " (%s lost as allowed)", thousands(r.AckedLost))
	}
	fmt.Fprintf(&b, " of %s (%s failed, %s unknown), %s polled, %s and %s over %s and %s: ",
		plural(r.Sends, "send"), thousands(r.SendsFailed), thousands(r.SendsUnknown), thousands(r.Polled),
		plural(r.FinalReads, "final read"), plural(r.Commits, "commit"), plural(r.Partitions, "partition"),
		plural(r.Crashes, "crash"))
	errs, warns := r.tally()
	if len(errs) == 0 && len(warns) == 0 {
		b.WriteString("no anomalies")
		return b.String()
	}
	list := func(cs []kindCount, what string) {
		n := 0
		for _, c := range cs {
			n += c.n
		}
		b.WriteString(plural(n, what))
		b.WriteString(" (")
		for i, c := range cs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", c.kind, thousands(c.n))
		}
		b.WriteString(")")
	}
	if len(errs) > 0 {
		list(errs, "error")
	}
	if len(warns) > 0 {
		if len(errs) > 0 {
			b.WriteString(", ")
		}
		list(warns, "warning")
	}
	return b.String()
}

func plural(n int, what string) string {
	s := thousands(n) + " " + what
	if n != 1 {
		if strings.HasSuffix(what, "sh") {
			return s + "es"
		}
		return s + "s"
	}
	return s
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
