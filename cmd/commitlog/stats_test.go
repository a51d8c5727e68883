package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStats(t *testing.T) {
	dir := writeFixture(t, 240)
	var s statsJSON
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "stats", "-d", dir, "--json")), &s))
	require.Equal(t, 2, s.Topics)
	require.Equal(t, 3, s.Partitions)
	require.Equal(t, int64(240), s.Records)
	require.Greater(t, s.Segments, 3, "the fixture spans several segments")
	total := int64(0)
	for _, p := range s.Details {
		total += p.Bytes
		if p.Topic == "events" {
			require.Equal(t, partitionDescriptionJSON{Topic: "events", Partition: p.Partition, StartOffset: 0, HighWatermark: 120, EndOffset: 120,
				Segments: p.Segments, Bytes: p.Bytes}, p)
		}
	}
	require.Equal(t, s.Bytes, total)

	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "stats", "-d", dir, "--json", "--internal")), &s))
	require.Equal(t, 3, s.Topics, "__consumer_offsets is counted with --internal")

	out := mustRun(t, "", "stats", "-d", dir)
	require.Contains(t, out, "Topics: 2\tPartitions: 3")
	require.Regexp(t, `events\s+1\s+0\s+120\s+120`, out)
}
