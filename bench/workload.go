package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scale holds the sizes of one kind of run.
type scale struct {
	Name         string
	Records      int           // records appended by W1, W2, W3, R1 and W7's produce runs
	Batch        int           // records per batch
	WriteCap     time.Duration // a write run stops early after this long (slow durable peers)
	LatencyOps   int           // durable single-record appends timed by W3lat and R3lat
	TailRate     int           // records/s produced by W5
	TailFor      time.Duration // how long W5 produces
	GroupWriters int           // goroutines of W6
	GroupFor     time.Duration // how long W6 appends
	LimitBytes   int64         // bytes written by the new-file bandwidth measurement
	LimitRounds  int           // repetitions of each machine-limit measurement
}

var (
	fullScale = scale{
		Name: "full", Records: 1_000_000, Batch: 1000, WriteCap: 5 * time.Second,
		LatencyOps: 2000, TailRate: 10_000, TailFor: 3 * time.Second,
		GroupWriters: 64, GroupFor: 3 * time.Second,
		LimitBytes: 1 << 30, LimitRounds: 3,
	}
	quickScale = scale{
		Name: "quick", Records: 20_000, Batch: 1000, WriteCap: time.Second,
		LatencyOps: 100, TailRate: 10_000, TailFor: 300 * time.Millisecond,
		GroupWriters: 64, GroupFor: 300 * time.Millisecond,
		LimitBytes: 64 << 20, LimitRounds: 1,
	}
)

// kind says which driver runs a workload.
type kind int

const (
	kindWrite   kind = iota // append batches, measure records/s
	kindLatency             // durable single-record appends, measure p50/p99
	kindRead                // read what a write workload left, in a fresh process
	kindTail                // append at a fixed rate while a consumer tails, measure p50/p99
	kindGroup               // many goroutines appending single records durably
)

// workload is one row of the report.
type workload struct {
	Name      string
	Title     string
	Kind      kind
	ValueSize int
	Durable   bool
	Cold      bool   // kindRead: evict the data from the page cache first
	Reads     string // kindRead: the write workload whose data is read
	Client    bool   // W7: this library's Producer and Consumer, not the partition API
	Codec     string // W7: "lz4" or "zstd" on compressible JSON-like values
	Peers     bool   // the peers run it too (W7 is this library only)
	// Replicas, when set, is the number of replicas (nodes in the one
	// process) a replicated run writes to, waiting for the system's
	// strongest acknowledgement: from every in-sync replica for commitlog
	// (AckAll), a Raft majority for NATS (system.replicatedUsage). 0 is
	// a single node.
	Replicas int
}

var workloads = []workload{
	{Name: "W1", Title: "append 100 B × batches of 1,000, no fsync", Kind: kindWrite, ValueSize: 100, Peers: true},
	{Name: "W2", Title: "append 1 KiB × batches of 1,000, no fsync", Kind: kindWrite, ValueSize: 1024, Peers: true},
	{Name: "W3", Title: "durable append 100 B × batches of 1,000", Kind: kindWrite, ValueSize: 100, Durable: true, Peers: true},
	{Name: "W3lat", Title: "durable append of one 100 B record", Kind: kindLatency, ValueSize: 100, Durable: true, Peers: true},
	{Name: "W4warm", Title: "read W1's data from the start, fresh process, warm cache", Kind: kindRead, ValueSize: 100, Reads: "W1", Peers: true},
	{Name: "W4cold", Title: "read W1's data from the start, fresh process, cold cache", Kind: kindRead, ValueSize: 100, Reads: "W1", Cold: true, Peers: true},
	{Name: "W5", Title: "append → consume latency at 10,000 records/s, no fsync", Kind: kindTail, ValueSize: 100, Peers: true},
	{Name: "W6", Title: "group commit: 64 goroutines appending one record durably", Kind: kindGroup, ValueSize: 100, Durable: true, Peers: true},
	{Name: "R1", Title: "append 100 B × batches of 1,000 to 3 replicas in one process, acknowledged by all in-sync replicas, no fsync", Kind: kindWrite, ValueSize: 100, Replicas: 3, Peers: true},
	{Name: "R3lat", Title: "durable append of one 100 B record to 3 replicas in one process, acknowledged by all in-sync replicas", Kind: kindLatency, ValueSize: 100, Durable: true, Replicas: 3, Peers: true},
	{Name: "W7-W1", Title: "W1 through the Producer", Kind: kindWrite, ValueSize: 100, Client: true},
	{Name: "W7-W4", Title: "W4 (warm) through the Consumer", Kind: kindRead, ValueSize: 100, Reads: "W7-W1", Client: true},
	{Name: "W7-W5", Title: "W5 through the Producer and Consumer", Kind: kindTail, ValueSize: 100, Client: true},
	{Name: "W7-lz4", Title: "W1 through the Producer, lz4, JSON-like values", Kind: kindWrite, Client: true, Codec: "lz4"},
	{Name: "W7-lz4-read", Title: "W7-lz4's data through the Consumer", Kind: kindRead, Reads: "W7-lz4", Client: true, Codec: "lz4"},
	{Name: "W7-zstd", Title: "W1 through the Producer, zstd, JSON-like values", Kind: kindWrite, Client: true, Codec: "zstd"},
	{Name: "W7-zstd-read", Title: "W7-zstd's data through the Consumer", Kind: kindRead, Reads: "W7-zstd", Client: true, Codec: "zstd"},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return names
}

func workloadByName(name string) (workload, bool) {
	for _, w := range workloads {
		if w.Name == name {
			return w, true
		}
	}
	return workload{}, false
}

// selectWorkloads returns the named workloads (all when list is empty), in
// the table's order. "W7" names all of W7's runs, "W4" both reads of W1's
// data and "R" the replicated runs.
func selectWorkloads(list string) ([]workload, error) {
	if list == "" {
		return workloads, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		matched := false
		for _, w := range workloads {
			if strings.EqualFold(w.Name, n) || (strings.EqualFold(n, "W7") && w.Client) ||
				(strings.EqualFold(n, "W4") && w.Kind == kindRead && !w.Client) ||
				(strings.EqualFold(n, "R") && w.Replicas > 0) {
				want[w.Name] = true
				matched = true
			}
		}
		if !matched {
			return nil, fmt.Errorf("unknown workload %q (known: %s, W4, W7, R)", n, strings.Join(workloadNames(), ", "))
		}
	}
	var out []workload
	for _, w := range workloads {
		if want[w.Name] {
			out = append(out, w)
		}
	}
	return out, nil
}

// rec is one record handed to a system: a 16-byte key (used by the systems
// that have keys) and a value.
type rec struct {
	key, value []byte
}

// recordSource hands out records without allocating per record: values are
// windows into a pool of random bytes, placed so that the values of one
// batch never overlap (a batch is incompressible), or JSON-like documents
// drawn from a pool for the compression runs.
type recordSource struct {
	pool []byte
	keys []byte
	size int
	step int
	// keyAt and valueAt are where the next key and value start; next is
	// the next JSON document.
	keyAt, valueAt, next int
	json                 [][]byte
	batch                []rec
}

const (
	randomPoolBytes = 4 << 20
	keyPoolBytes    = 64 << 10
	keySize         = 16
	jsonPoolRecords = 10_000
)

func newRecordSource(seed uint64, valueSize int, jsonValues bool) *recordSource {
	rng := rand.New(rand.NewChaCha8(seedBytes(seed)))
	s := &recordSource{size: valueSize, step: valueSize + 13}
	s.keys = make([]byte, keyPoolBytes)
	fillRandom(rng, s.keys)
	if jsonValues {
		s.json = jsonDocuments(rng, jsonPoolRecords)
		return s
	}
	s.pool = make([]byte, randomPoolBytes)
	fillRandom(rng, s.pool)
	return s
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	for i := range 4 {
		v := seed + uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// record returns the next record. Its slices stay valid for the life of the
// source; they must not be modified.
func (s *recordSource) record() rec {
	var r rec
	s.fill(&r)
	return r
}

// fill sets r to the next record. The harness's own cost per record is
// part of every system's write time, so it is kept small: filled in place
// (a rec built and then copied is moved in 16-byte loads that the CPU
// cannot forward from the 8-byte stores that built it), with windows that
// move by a fixed step and wrap: 25 ns per record before, 8 after.
func (s *recordSource) fill(r *rec) {
	r.key = s.keys[s.keyAt : s.keyAt+keySize : s.keyAt+keySize]
	if s.keyAt += 17; s.keyAt >= len(s.keys)-keySize {
		s.keyAt -= len(s.keys) - keySize
	}
	if s.json != nil {
		r.value = s.json[s.next]
		if s.next++; s.next == len(s.json) {
			s.next = 0
		}
		return
	}
	r.value = s.pool[s.valueAt : s.valueAt+s.size : s.valueAt+s.size]
	if s.valueAt += s.step; s.valueAt >= len(s.pool)-s.size {
		s.valueAt -= len(s.pool) - s.size
	}
}

// records returns the next n records in a slice reused by the next call.
func (s *recordSource) records(n int) []rec {
	if cap(s.batch) < n {
		s.batch = make([]rec, n)
	}
	s.batch = s.batch[:n]
	for i := range s.batch {
		s.fill(&s.batch[i])
	}
	return s.batch
}

// jsonDocuments returns n event documents of about 130 bytes, as an
// application would log them: repeated field names and a small vocabulary,
// so they compress as real JSON does.
func jsonDocuments(rng *rand.Rand, n int) [][]byte {
	events := []string{"page_view", "click", "add_to_cart", "checkout", "login", "logout", "search"}
	countries := []string{"DE", "FR", "GB", "US", "JP", "BR", "IN", "NL"}
	docs := make([][]byte, n)
	ts := int64(1_790_000_000_000)
	for i := range docs {
		ts += rng.Int64N(50)
		b := make([]byte, 0, 160)
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"user":"user-`...)
		b = strconv.AppendInt(b, rng.Int64N(100_000), 10)
		b = append(b, `","event":"`...)
		b = append(b, events[rng.IntN(len(events))]...)
		b = append(b, `","ts":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `,"amount":`...)
		b = strconv.AppendFloat(b, float64(rng.IntN(100_000))/100, 'f', 2, 64)
		b = append(b, `,"country":"`...)
		b = append(b, countries[rng.IntN(len(countries))]...)
		b = append(b, `","session":"`...)
		b = strconv.AppendUint(b, rng.Uint64()&0xffffffff, 16)
		b = append(b, `"}`...)
		docs[i] = b
	}
	return docs
}

// percentiles returns the 50th and 99th percentile of ds, in microseconds,
// sorting ds. The p-th percentile is the smallest sample at or above p% of
// the samples (nearest rank).
func percentiles(ds []time.Duration) (p50, p99 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return micros(nearestRank(ds, 50)), micros(nearestRank(ds, 99))
}

func nearestRank(sorted []time.Duration, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100 // ceil(n·p/100)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
