package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

// partitionStats returns the Log's statistics of every partition: the
// one place that knows the shape of Log.Stats.
func partitionStats(l *commitlog.Log) []commitlog.PartitionStats {
	return l.Stats().Partitions
}

// statsJSON is stats' JSON output.
type statsJSON struct {
	Topics     int                        `json:"topics"`
	Partitions int                        `json:"partitions"`
	Segments   int                        `json:"segments"`
	Bytes      int64                      `json:"bytes"`
	Records    int64                      `json:"records"` // end - start offsets, summed: compaction gaps count
	Details    []partitionDescriptionJSON `json:"details"`
}

func newStatsCommand(e *env) *cobra.Command {
	var dir string
	var asJSON, internal bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the Log's statistics: totals and every partition's offsets and size",
		Long: `Show the Log's statistics: the number of topics, partitions and segments,
bytes on disk, and for every partition its start offset, high watermark,
end offset, segments and bytes (replicated partitions also show their
leader, leader epoch and in-sync replicas). The directory is opened
read-only.`,
		Example: `  commitlog stats -d /var/lib/app/log
  commitlog stats -d /var/lib/app/log --json --internal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			l, err := openLog(dir, readOnly, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			out := statsJSON{Details: []partitionDescriptionJSON{}}
			topics := map[string]bool{}
			for _, s := range partitionStats(l) {
				if !internal && len(s.Topic) > 2 && s.Topic[:2] == "__" {
					continue
				}
				topics[s.Topic] = true
				out.Partitions++
				out.Segments += s.Segments
				out.Bytes += s.Bytes
				out.Records += s.EndOffset - s.StartOffset
				out.Details = append(out.Details, describePartition(s))
			}
			out.Topics = len(topics)
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(e.stdout, "Topics: %d\tPartitions: %d\tSegments: %d\tBytes: %d\tRecords: %d\n",
				out.Topics, out.Partitions, out.Segments, out.Bytes, out.Records)
			printPartitions(e, out.Details)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets)")
	return cmd
}
