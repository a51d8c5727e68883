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
	var repl replicationFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the Log's statistics: totals and every partition's offsets and size",
		Long: `Show the Log's statistics: the number of topics, partitions and segments,
bytes on disk, and for every partition its start offset, high watermark,
end offset, segments and bytes. The directory is opened read-only.

On a cluster node, --metadata and --replica-dir add each partition's
leader, leader epoch, in-sync replicas, replicas and the replicas' lag,
as in topics describe.`,
		Example: `  commitlog stats -d /var/lib/app/log
  commitlog stats -d /var/lib/app/log --json --internal
  commitlog stats -d n1/log --metadata n1/raft --replica-dir 1=n1/log --replica-dir 2=n2/log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			view, err := repl.load(e.stderr)
			if err != nil {
				return err
			}
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
				d := describePartition(s)
				view.annotate(&d)
				out.Details = append(out.Details, d)
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
	repl.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets)")
	return cmd
}
