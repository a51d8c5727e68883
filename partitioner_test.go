package commitlog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Kafka's UtilsTest#testMurmur2 vectors plus the derived ones of reference
// §5.5.3.
var murmur2Golden = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	{"", 275646681},
	{"a", -1563381124},
	{"key0", 452605474},
	{"user-42", 1459644460},
}

func TestMurmur2GoldenVectors(t *testing.T) {
	for _, tc := range murmur2Golden {
		require.Equal(t, tc.hash, murmur2([]byte(tc.key)), "murmur2(%q)", tc.key)
	}
}

func TestMurmur2PartitionerKafkaPlacement(t *testing.T) {
	ns := []int32{2, 3, 6, 10, 12, 100}
	want := map[string][]int32{
		// Reference §5.5.3.
		"":        {1, 0, 3, 1, 9, 81},
		"a":       {0, 1, 4, 4, 4, 24},
		"foobar":  {0, 0, 0, 6, 6, 66},
		"abc":     {1, 0, 3, 7, 3, 7},
		"key0":    {0, 1, 4, 4, 10, 74},
		"user-42": {0, 1, 4, 0, 4, 60},
		// (hash & 0x7fffffff) % n of the remaining UtilsTest vectors,
		// computed with an independent Python murmur2.
		"21":                         {0, 0, 0, 0, 0, 40},
		"a-little-bit-long-string":   {0, 2, 2, 2, 8, 12},
		"a-little-bit-longer-string": {1, 2, 5, 9, 11, 19},
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": {1, 2, 5, 7, 5, 77},
	}
	tp := Murmur2Partitioner().ForTopic("t")
	for key, parts := range want {
		for i, n := range ns {
			r := &Record{Key: []byte(key)}
			require.Equal(t, parts[i], tp.Partition(r, n), "key %q, n=%d", key, n)
		}
	}
}

func TestMurmur2PartitionerEmptyKeyIsKey(t *testing.T) {
	tp := Murmur2Partitioner().ForTopic("t")
	for range 1000 {
		require.Equal(t, int32(81), tp.Partition(&Record{Key: []byte{}}, 100))
	}
}

func TestKeyHashPartitionerStable(t *testing.T) {
	keys := make([][]byte, 200)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i] = make([]byte, rng.IntN(40))
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	for _, n := range []int32{1, 2, 7, 64, 1000} {
		first := KeyHashPartitioner().ForTopic("a")
		want := make([]int32, len(keys))
		for i, k := range keys {
			want[i] = first.Partition(&Record{Key: k}, n)
		}
		others := []TopicPartitioner{
			first,
			KeyHashPartitioner().ForTopic("a"),
			KeyHashPartitioner().ForTopic("b"),
		}
		for round := range 3 {
			for j, tp := range others {
				for i, k := range keys {
					// Interleave keyless records: they must not disturb keyed placement.
					tp.Partition(&Record{Value: make([]byte, 100)}, n)
					require.Equal(t, want[i], tp.Partition(&Record{Key: k}, n), "n=%d round %d partitioner %d key %x", n, round, j, k)
				}
			}
		}
	}
}

// The mapping is part of the data layout: these literals were computed
// once with xxhash.Sum64(key) % n and must never change.
func TestKeyHashPartitionerPinned(t *testing.T) {
	for _, tc := range []struct {
		key      string
		n7, n100 int32
		xxhash64 uint64 // xxhash.Sum64(key), for the reader
	}{
		{"", 6, 21, 17241709254077376921},
		{"a", 6, 55, 15154266338359012955},
		{"key0", 1, 27, 7102430309132682427},
		{"user-42", 5, 69, 4142921581652311169},
		{"orders/eu/12345", 5, 77, 15622528468196915977},
		{"\x00\xff", 0, 81, 16202119234872089981},
	} {
		tp := KeyHashPartitioner().ForTopic("t")
		r := &Record{Key: []byte(tc.key)}
		require.Equal(t, tc.n7, tp.Partition(r, 7), "key %q, n=7", tc.key)
		require.Equal(t, tc.n100, tp.Partition(r, 100), "key %q, n=100", tc.key)
		require.Equal(t, int32(tc.xxhash64%7), tc.n7)
		require.Equal(t, int32(tc.xxhash64%100), tc.n100)
	}
}

func TestKeyHashPartitionerSpread(t *testing.T) {
	const keys, n = 10000, 8
	tp := KeyHashPartitioner().ForTopic("t")
	counts := make([]int, n)
	for i := range keys {
		counts[tp.Partition(&Record{Key: fmt.Appendf(nil, "key-%d", i)}, n)]++
	}
	for p, c := range counts {
		require.GreaterOrEqual(t, c, keys/10, "partition %d got %d of %d keys: %v", p, c, keys, counts)
		require.LessOrEqual(t, c, keys*15/100, "partition %d got %d of %d keys: %v", p, c, keys, counts)
	}
}

func TestKeyHashPartitionerEmptyKeyIsKey(t *testing.T) {
	tp := KeyHashPartitioner().ForTopic("t")
	for range 100000 { // far more than one sticky batch
		require.Equal(t, int32(21), tp.Partition(&Record{Key: []byte{}, Value: make([]byte, 64)}, 100))
	}
}

// stickyRuns feeds records to tp until it has seen runs+1 runs of
// consecutive records on one partition, and returns the first runs runs as
// (partition, length) pairs.
func stickyRuns(t *testing.T, tp TopicPartitioner, mk func(i int) *Record, n int32, runs int) (parts []int32, lengths []int) {
	t.Helper()
	cur, length := int32(-1), 0
	for i := 0; ; i++ {
		p := tp.Partition(mk(i), n)
		require.True(t, p >= 0 && p < n, "partition %d out of [0, %d)", p, n)
		if p == cur {
			length++
			continue
		}
		if cur >= 0 {
			parts = append(parts, cur)
			lengths = append(lengths, length)
			if len(parts) == runs {
				return parts, lengths
			}
		}
		cur, length = p, 1
	}
}

func TestStickyPartitionerBatches(t *testing.T) {
	value := make([]byte, 1000)
	// Each record counts 1000+16 bytes; a partition is left once at least
	// stickyBatchBytes have gone to it.
	perRun := (stickyBatchBytes + 1016 - 1) / 1016
	for _, tc := range []struct {
		name string
		p    Partitioner
		key  func(i int) []byte
	}{
		{"KeyHash/nil-key", KeyHashPartitioner(), func(int) []byte { return nil }},
		{"Murmur2/nil-key", Murmur2Partitioner(), func(int) []byte { return nil }},
		{"Sticky/nil-key", StickyPartitioner(), func(int) []byte { return nil }},
		// Sticky ignores keys; an empty key counts 0 bytes like a nil one.
		{"Sticky/empty-key", StickyPartitioner(), func(int) []byte { return []byte{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n, runs = 5, 60
			tp := tc.p.ForTopic("t")
			parts, lengths := stickyRuns(t, tp, func(i int) *Record {
				return &Record{Key: tc.key(i), Value: value}
			}, n, runs)
			used := make(map[int32]bool)
			for i := range parts {
				require.Equal(t, perRun, lengths[i], "run %d on partition %d", i, parts[i])
				if i > 0 {
					require.NotEqual(t, parts[i-1], parts[i])
				}
				used[parts[i]] = true
			}
			require.Len(t, used, n, "partitions used over %d runs: %v", runs, parts)
		})
	}
}

func TestStickyPartitionerIgnoresKeys(t *testing.T) {
	// Distinct 8-byte keys and a 1000-byte value: 8+1000+16 = 1024 bytes
	// per record, so each run is exactly stickyBatchBytes/1024 records.
	perRun := stickyBatchBytes / 1024
	tp := StickyPartitioner().ForTopic("t")
	value := make([]byte, 1000)
	_, lengths := stickyRuns(t, tp, func(i int) *Record {
		return &Record{Key: fmt.Appendf(nil, "key-%04d", i), Value: value}
	}, 16, 10)
	for _, l := range lengths {
		require.Equal(t, perRun, l)
	}
}

func TestStickyPartitionerEmptyRecordsAdvance(t *testing.T) {
	tp := StickyPartitioner().ForTopic("t")
	_, lengths := stickyRuns(t, tp, func(int) *Record { return &Record{} }, 3, 4)
	for _, l := range lengths {
		require.Equal(t, stickyBatchBytes/stickyRecordOverhead, l)
	}
}

func TestStickyPartitionerRecordSize(t *testing.T) {
	require.EqualValues(t, 16, stickyRecordSize(&Record{}))
	require.EqualValues(t, 16+3+5+(1+2)+(4+0), stickyRecordSize(&Record{
		Topic:     "ignored",
		Partition: 9,
		Offset:    1 << 40,
		Key:       []byte("abc"),
		Value:     []byte("hello"),
		Headers:   []Header{{Key: "h", Value: []byte("vv")}, {Key: "null", Value: nil}},
	}))
	// Headers count toward the batch.
	tp := StickyPartitioner().ForTopic("t")
	hdrs := []Header{{Key: "k", Value: make([]byte, 1023)}} // 1024+16 per record
	_, lengths := stickyRuns(t, tp, func(int) *Record { return &Record{Headers: hdrs} }, 4, 3)
	for _, l := range lengths {
		require.Equal(t, (stickyBatchBytes+1040-1)/1040, l)
	}
}

func TestStickyPartitionerTwoPartitionsAlternate(t *testing.T) {
	tp := StickyPartitioner().ForTopic("t")
	parts, _ := stickyRuns(t, tp, func(int) *Record { return &Record{Value: make([]byte, 1<<16)} }, 2, 20)
	for i := 1; i < len(parts); i++ {
		require.Equal(t, 1-parts[i-1], parts[i])
	}
}

func TestStickyPartitionerLargeRecordsSwitchEveryRecord(t *testing.T) {
	tp := StickyPartitioner().ForTopic("t")
	big := &Record{Value: make([]byte, stickyBatchBytes)}
	prev := tp.Partition(big, 10)
	for range 100 {
		p := tp.Partition(big, 10)
		require.NotEqual(t, prev, p)
		prev = p
	}
}

func TestStickyPartitionerSinglePartition(t *testing.T) {
	for _, p := range []Partitioner{StickyPartitioner(), KeyHashPartitioner(), Murmur2Partitioner()} {
		tp := p.ForTopic("t")
		for i := range 5000 {
			require.Equal(t, int32(0), tp.Partition(&Record{Value: make([]byte, 1<<12), Headers: []Header{{Key: fmt.Sprint(i)}}}, 1))
		}
	}
}

func TestStickyPartitionerFirstPickRandom(t *testing.T) {
	seen := make(map[int32]bool)
	for range 500 {
		seen[StickyPartitioner().ForTopic("t").Partition(&Record{}, 8)] = true
	}
	require.Len(t, seen, 8)
}

func TestStickyPartitionerPartitionCountChanges(t *testing.T) {
	r := &Record{Value: make([]byte, 100)}
	for range 200 {
		tp := StickyPartitioner().ForTopic("t")
		p := tp.Partition(r, 64)
		// Growing keeps the current partition.
		require.Equal(t, p, tp.Partition(r, 128))
		// Shrinking to a count that still contains it keeps it too.
		require.Equal(t, p, tp.Partition(r, p+1))
		if p == 0 {
			continue
		}
		// Shrinking below it re-picks in range, and sticks to the new one.
		q := tp.Partition(r, p)
		require.True(t, q >= 0 && q < p, "re-picked %d, want [0, %d)", q, p)
		for range 100 {
			require.Equal(t, q, tp.Partition(r, p))
		}
	}
}

func TestRoundRobinPartitioner(t *testing.T) {
	p := RoundRobinPartitioner()
	a, b := p.ForTopic("a"), p.ForTopic("b")
	for i := range int32(50) {
		require.Equal(t, i%7, a.Partition(&Record{Key: []byte("same")}, 7), "record %d of a", i)
	}
	// b has its own counter.
	for i := range int32(10) {
		require.Equal(t, i%3, b.Partition(&Record{}, 3), "record %d of b", i)
	}
	// Record i goes to i % n for the n of that call.
	require.Equal(t, int32(50%4), a.Partition(&Record{}, 4))
	require.Equal(t, int32(51%10), a.Partition(&Record{}, 10))
}

func TestManualPartitioner(t *testing.T) {
	tp := ManualPartitioner().ForTopic("t")
	for _, part := range []int32{0, 1, 5, 6, 99, -1} {
		require.Equal(t, part, tp.Partition(&Record{Partition: part, Key: []byte("k")}, 6))
	}
}

func TestPartitionerFunc(t *testing.T) {
	type call struct {
		topic string
		r     *Record
		n     int32
	}
	var calls []call
	p := PartitionerFunc(func(topic string, r *Record, n int32) int32 {
		calls = append(calls, call{topic, r, n})
		return int32(len(topic)) + n
	})
	a, b := p.ForTopic("alpha"), p.ForTopic("be")
	r1, r2 := &Record{Key: []byte("x")}, &Record{Value: []byte("y")}
	require.Equal(t, int32(5+3), a.Partition(r1, 3))
	require.Equal(t, int32(2+9), b.Partition(r2, 9))
	require.Equal(t, []call{{"alpha", r1, 3}, {"be", r2, 9}}, calls)
	require.Same(t, r1, calls[0].r)
	require.Same(t, r2, calls[1].r)

	// A nil function is refused when the producer is configured, not at
	// the first record.
	var cerr *ConfigError
	require.ErrorAs(t, (&ProducerConfig{Partitioner: PartitionerFunc(nil)}).Validate(), &cerr)
	require.Equal(t, []string{"Partitioner: PartitionerFunc(nil): the function is nil"}, cerr.Problems)
}

func TestBuiltinPartitionersInRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randomRecord := func() *Record {
		r := &Record{Partition: -1}
		switch rng.IntN(3) {
		case 1:
			r.Key = []byte{}
		case 2:
			r.Key = make([]byte, 1+rng.IntN(64))
			for i := range r.Key {
				r.Key[i] = byte(rng.Uint32())
			}
		}
		r.Value = make([]byte, rng.IntN(50000))
		if rng.IntN(4) == 0 {
			r.Headers = []Header{{Key: "h", Value: make([]byte, rng.IntN(1000))}}
		}
		return r
	}
	for _, tc := range builtinPartitioners() {
		for _, n := range []int32{1, 2, 3, 7, 64} {
			tp := tc.p.ForTopic("t")
			for range 5000 {
				r := randomRecord()
				if tc.name == "Manual" {
					r.Partition = rng.Int32N(n)
				}
				p := tp.Partition(r, n)
				require.True(t, p >= 0 && p < n, "%s: partition %d out of [0, %d)", tc.name, p, n)
			}
		}
	}
}

func TestBuiltinPartitionersInvalidCount(t *testing.T) {
	for _, p := range []Partitioner{KeyHashPartitioner(), Murmur2Partitioner(), StickyPartitioner(), RoundRobinPartitioner()} {
		tp := p.ForTopic("t")
		for _, n := range []int32{0, -1} {
			require.Equal(t, int32(-1), tp.Partition(&Record{Key: []byte("k")}, n))
			require.Equal(t, int32(-1), tp.Partition(&Record{}, n))
		}
	}
}

func TestPartitionerAllocs(t *testing.T) {
	key := []byte("0123456789abcdef")
	keyed := &Record{Key: key, Value: key}
	keyless := &Record{Value: key}
	for _, tc := range builtinPartitioners() {
		tp := tc.p.ForTopic("t")
		allocs := testing.AllocsPerRun(1000, func() {
			tp.Partition(keyed, 12)
			tp.Partition(keyless, 12)
		})
		require.Zero(t, allocs, tc.name)
	}
}

func benchmarkKeyedPartitioner(b *testing.B, p Partitioner) {
	keys := make([][]byte, 1024)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range keys {
		keys[i] = make([]byte, 16)
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
	}
	tp := p.ForTopic("t")
	r := &Record{Value: make([]byte, 100)}
	b.ReportAllocs()
	b.SetBytes(16)
	sum := int32(0)
	i := 0
	for b.Loop() {
		r.Key = keys[i&1023]
		sum += tp.Partition(r, 12)
		i++
	}
	if sum < 0 {
		b.Fatal("negative partition")
	}
}

func BenchmarkKeyHashPartitioner(b *testing.B) { benchmarkKeyedPartitioner(b, KeyHashPartitioner()) }

func BenchmarkMurmur2Partitioner(b *testing.B) { benchmarkKeyedPartitioner(b, Murmur2Partitioner()) }

func BenchmarkStickyPartitioner(b *testing.B) {
	tp := StickyPartitioner().ForTopic("t")
	r := &Record{Value: make([]byte, 100)}
	b.ReportAllocs()
	sum := int32(0)
	for b.Loop() {
		sum += tp.Partition(r, 12)
	}
	if sum < 0 {
		b.Fatal("negative partition")
	}
}

// builtinPartitioners returns a fresh instance of every built-in
// Partitioner, by name.
func builtinPartitioners() []struct {
	name string
	p    Partitioner
} {
	return []struct {
		name string
		p    Partitioner
	}{
		{"KeyHash", KeyHashPartitioner()},
		{"Murmur2", Murmur2Partitioner()},
		{"Sticky", StickyPartitioner()},
		{"RoundRobin", RoundRobinPartitioner()},
		{"Manual", ManualPartitioner()},
	}
}

// The producer calls partitionWithoutState without serializing; it must
// agree with Partition wherever it answers.
func TestPartitionWithoutStateAgrees(t *testing.T) {
	for _, tc := range builtinPartitioners() {
		for _, n := range []int32{1, 2, 7} {
			tp := tc.p.ForTopic("t")
			fast, ok := tp.(partitionWithoutState)
			require.True(t, ok, tc.name)
			for _, key := range [][]byte{nil, {}, []byte("k1"), []byte("user-42")} {
				r := &Record{Key: key, Partition: n - 1}
				if p, ok := fast.partitionWithoutState(r, n); ok {
					require.Equal(t, tp.Partition(r, n), p, "%s n=%d key=%q", tc.name, n, key)
				} else {
					stateful := n > 1 && (key == nil || tc.name == "Sticky" || tc.name == "RoundRobin")
					require.True(t, stateful, "%s n=%d key=%q: only a stateful answer needs the lock", tc.name, n, key)
				}
			}
		}
	}
}
