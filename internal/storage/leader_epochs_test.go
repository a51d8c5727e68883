package storage

import (
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

func epochsOf(pairs ...int64) *leaderEpochs {
	c := &leaderEpochs{}
	for i := 0; i < len(pairs); i += 2 {
		c.entries = append(c.entries, epochEntry{int32(pairs[i]), pairs[i+1]})
	}
	return c
}

func TestLeaderEpochsAssign(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    *leaderEpochs
		epoch   int32
		start   int64
		changed bool
		want    *leaderEpochs
	}{
		{"first", epochsOf(), 0, 0, true, epochsOf(0, 0)},
		{"a later epoch", epochsOf(0, 0), 2, 100, true, epochsOf(0, 0, 2, 100)},
		{"the latest epoch again, later", epochsOf(0, 0, 2, 100), 2, 150, false, epochsOf(0, 0, 2, 100)},
		{"the latest epoch again, earlier", epochsOf(0, 0, 2, 100), 2, 50, true, epochsOf(0, 0, 2, 50)},
		{"an older epoch replaces what follows it", epochsOf(0, 0, 2, 100, 3, 200), 1, 150, true, epochsOf(0, 0, 1, 150)},
		{"a later epoch at an earlier offset drops the entries from there", epochsOf(0, 0, 2, 100, 3, 200), 4, 150, true, epochsOf(0, 0, 2, 100, 4, 150)},
		{"negative epoch", epochsOf(0, 0), -1, 10, false, epochsOf(0, 0)},
		{"negative offset", epochsOf(0, 0), 1, -1, false, epochsOf(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.changed, tc.from.assign(tc.epoch, tc.start))
			require.Equal(t, tc.want.entries, tc.from.entries)
		})
	}
}

func TestLeaderEpochsEndOffsetFor(t *testing.T) {
	c := epochsOf(1, 0, 3, 100, 6, 250)
	for _, tc := range []struct {
		requested int32
		epoch     int32
		offset    int64
	}{
		{6, 6, 400},            // the latest: the log end
		{3, 3, 250},            // a known epoch: where the next starts
		{4, 3, 250},            // unknown, between: the largest below, where the next starts
		{5, 3, 250},            //
		{1, 1, 100},            //
		{2, 1, 100},            //
		{0, NoEpoch, NoEpoch},  // below the first epoch
		{7, NoEpoch, NoEpoch},  // above the latest
		{-1, NoEpoch, NoEpoch}, // none
	} {
		epoch, offset := c.endOffsetFor(tc.requested, 400)
		require.Equal(t, []any{tc.epoch, tc.offset}, []any{epoch, offset}, "requested %d", tc.requested)
	}
	epoch, offset := (&leaderEpochs{}).endOffsetFor(0, 10)
	require.Equal(t, []any{int32(NoEpoch), int64(NoEpoch)}, []any{epoch, offset}, "empty cache")
}

func TestLeaderEpochsTruncate(t *testing.T) {
	c := epochsOf(1, 0, 3, 100, 6, 250)
	require.False(t, c.truncateFromEnd(300), "nothing starts at or above 300")
	require.True(t, c.truncateFromEnd(250))
	require.Equal(t, epochsOf(1, 0, 3, 100).entries, c.entries)

	c = epochsOf(1, 0, 3, 100, 6, 250)
	require.False(t, c.truncateFromStart(0))
	require.True(t, c.truncateFromStart(120), "epoch 3 holds offset 120: it starts there, epoch 1 goes")
	require.Equal(t, epochsOf(3, 120, 6, 250).entries, c.entries)
	require.True(t, c.truncateFromStart(250))
	require.Equal(t, epochsOf(6, 250).entries, c.entries)
	require.False(t, c.truncateFromStart(250))
	require.True(t, c.truncateFromStart(900), "the start moves past the last epoch's start")
	require.Equal(t, epochsOf(6, 900).entries, c.entries)
}

func TestLeaderEpochsFile(t *testing.T) {
	mem := vfs.NewMem()
	require.NoError(t, MkdirAllDurable(mem, testPartitionDir))
	empty, err := readLeaderEpochs(mem, testPartitionDir)
	require.NoError(t, err, "a missing file is an empty cache")
	require.Empty(t, empty.entries)

	c := epochsOf(0, 0, 2, 100, 7, 12345)
	require.NoError(t, writeLeaderEpochs(mem, testPartitionDir, c))
	data, err := mem.ReadFile(testPartitionDir + "/" + LeaderEpochsName)
	require.NoError(t, err)
	require.Regexp(t, `^0\n3\n0 0\n2 100\n7 12345\ncrc32c [0-9a-f]{8}\n$`, string(data), "Kafka's text format with a checksum line")
	got, err := readLeaderEpochs(mem, testPartitionDir)
	require.NoError(t, err)
	require.Equal(t, c.entries, got.entries)

	for _, bad := range []string{
		"",
		"0\n1\n0 0\n",                          // no checksum
		string(data[:len(data)-2]) + "0\n",     // checksum changed
		string(fixTextCRC("1\n0\n")),           // version
		string(fixTextCRC("0\n2\n0 0\n")),      // count
		string(fixTextCRC("0\n2\n3 0\n2 5\n")), // epochs not ascending
		string(fixTextCRC("0\n2\n1 5\n2 5\n")), // offsets not ascending
		string(fixTextCRC("0\n1\n1 x\n")),      // not a number
		string(fixTextCRC("0\n1\n-1 0\n")),     // negative
	} {
		require.NoError(t, mem.WriteFile(testPartitionDir+"/"+LeaderEpochsName, []byte(bad)))
		_, err := readLeaderEpochs(mem, testPartitionDir)
		var cerr *CorruptionError
		require.ErrorAs(t, err, &cerr, "%q", bad)
		require.ErrorIs(t, err, ErrCorrupt)
	}
}

// fixTextCRC appends the checksum line the leader-epochs file ends with.
func fixTextCRC(body string) []byte {
	return fmt.Appendf([]byte(body), "crc32c %08x\n", crc32.Checksum([]byte(body), castagnoli))
}

func TestLeaderEpochsReconcile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cache     *leaderEpochs
		from, end int64
		runs      []epochEntry
		ok        bool
		want      *leaderEpochs
	}{
		{"agrees", epochsOf(0, 0, 2, 100), 50, 150, epochsOf(0, 50, 2, 100).entries, true, epochsOf(0, 0, 2, 100)},
		{"agrees, scan starts in the latest epoch", epochsOf(0, 0, 2, 100), 120, 150, epochsOf(2, 120).entries, true, epochsOf(0, 0, 2, 100)},
		{"extended by a newer epoch", epochsOf(0, 0), 50, 150, epochsOf(0, 50, 3, 90).entries, true, epochsOf(0, 0, 3, 90)},
		{"nothing scanned", epochsOf(0, 0, 2, 100), 150, 150, nil, true, epochsOf(0, 0, 2, 100)},
		{"an epoch assigned at the end", epochsOf(0, 0, 5, 150), 50, 150, epochsOf(0, 50).entries, true, epochsOf(0, 0, 5, 150)},
		{"the assigned epoch is not newer", epochsOf(0, 0, 5, 150), 50, 150, epochsOf(0, 50, 5, 100).entries, false, epochsOf(0, 0, 5, 150)},
		{"an epoch starts elsewhere", epochsOf(0, 0, 2, 100), 50, 150, epochsOf(0, 50, 2, 110).entries, false, epochsOf(0, 0, 2, 100)},
		{"an epoch the batches lack", epochsOf(0, 0, 2, 100, 3, 120), 50, 150, epochsOf(0, 50, 2, 100).entries, false, epochsOf(0, 0, 2, 100, 3, 120)},
		{"the first batch scanned has another epoch", epochsOf(0, 0, 2, 100), 120, 150, epochsOf(1, 120).entries, false, epochsOf(0, 0, 2, 100)},
		{"a batch without an epoch", epochsOf(0, 0), 50, 150, epochsOf(-1, 50).entries, false, epochsOf(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.ok, tc.cache.reconcile(tc.from, tc.end, tc.runs))
			require.Equal(t, tc.want.entries, tc.cache.entries)
		})
	}
}

func TestLeaderEpochsLookups(t *testing.T) {
	c := epochsOf(1, 0, 3, 100, 6, 250)
	for _, tc := range []struct {
		offset int64
		epoch  int32
	}{{0, NoEpoch}, {1, 1}, {100, 1}, {101, 3}, {250, 3}, {251, 6}, {999, 6}} {
		require.Equal(t, tc.epoch, c.epochBefore(tc.offset), "before %d", tc.offset)
	}
	require.Equal(t, int64(100), c.startOf(3))
	require.Equal(t, int64(-1), c.startOf(2))
	require.Equal(t, int64(-1), c.startOf(7))
	d := c.clone()
	d.truncateFromEnd(100)
	require.Equal(t, epochsOf(1, 0, 3, 100, 6, 250).entries, c.entries, "a clone is a copy")
}
