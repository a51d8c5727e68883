package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

func newGroupsCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List and describe consumer groups, show their lag, reset their offsets",
	}
	cmd.AddCommand(newGroupsListCommand(e), newGroupsDescribeCommand(e, false), newGroupsDescribeCommand(e, true), newGroupsResetCommand(e))
	return cmd
}

func newGroupsListCommand(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the consumer groups with committed offsets, one per line",
		Long:    "List the consumer groups that have committed offsets, one name per line, sorted. The directory is opened read-only.",
		Example: "  commitlog groups list -d /var/lib/app/log",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			l, err := openLog(dir, readOnly, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			for _, g := range l.ListGroups() {
				fmt.Fprintln(e.stdout, g)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	return cmd
}

// groupPartitionJSON is one partition of groups describe and lag.
type groupPartitionJSON struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Committed     int64  `json:"committed_offset"`
	CommittedAt   int64  `json:"committed_at,omitempty"` // Unix ms
	HighWatermark int64  `json:"high_watermark"`
	Lag           int64  `json:"lag"`
}

type groupJSON struct {
	Group      string               `json:"group"`
	State      string               `json:"state"`
	Members    int                  `json:"members"`
	TotalLag   int64                `json:"total_lag"`
	Partitions []groupPartitionJSON `json:"partitions"`
}

func newGroupsDescribeCommand(e *env, lagOnly bool) *cobra.Command {
	var dir string
	var asJSON bool
	use, short, long := "describe GROUP", "Describe a consumer group: committed offsets and lag per partition",
		`Describe a consumer group: its state, and for each partition it has a
committed offset for, the committed offset, the partition's high
watermark and the lag between them (records not yet consumed). Offline,
a group has no members: membership lives in the process that uses the
directory. The directory is opened read-only.`
	example := "  commitlog groups describe -d /var/lib/app/log billing\n  commitlog groups describe -d /var/lib/app/log billing --json"
	if lagOnly {
		use, short, long = "lag GROUP", "Show a consumer group's lag per partition and in total",
			`Show a consumer group's lag: for each partition it has a committed offset
for, the records between it and the high watermark, and the total. The
directory is opened read-only.`
		example = "  commitlog groups lag -d /var/lib/app/log billing\n  commitlog groups lag -d /var/lib/app/log billing --json"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			l, err := openLog(dir, readOnly, e.stderr)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			d, err := l.DescribeGroup(args[0])
			if err != nil {
				return err
			}
			g := groupJSON{Group: d.Name, State: d.State.String(), Members: len(d.Members), Partitions: []groupPartitionJSON{}}
			for _, p := range d.Partitions {
				gp := groupPartitionJSON{Topic: p.Topic, Partition: p.Partition, Committed: p.Committed, HighWatermark: p.HighWatermark, Lag: p.Lag}
				if !p.CommittedAt.IsZero() {
					gp.CommittedAt = p.CommittedAt.UnixMilli()
				}
				g.TotalLag += max(0, p.Lag)
				g.Partitions = append(g.Partitions, gp)
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(g)
			}
			if !lagOnly {
				fmt.Fprintf(e.stdout, "Group: %s\tState: %s\tMembers: %d\n", g.Group, g.State, g.Members)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			if lagOnly {
				fmt.Fprintln(tw, "TOPIC\tPARTITION\tLAG")
			} else {
				fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tHIGH-WATERMARK\tLAG\tCOMMITTED-AT")
			}
			for _, p := range g.Partitions {
				if lagOnly {
					fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Topic, p.Partition, unknown(p.Lag))
					continue
				}
				at := "-"
				if p.CommittedAt != 0 {
					at = time.UnixMilli(p.CommittedAt).UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, unknown(p.Committed), unknown(p.HighWatermark), unknown(p.Lag), at)
			}
			tw.Flush()
			if lagOnly {
				fmt.Fprintf(e.stdout, "TOTAL LAG: %d\n", g.TotalLag)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// unknown prints -1 as "-".
func unknown(v int64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

// resetOptions are groups reset-offsets' flags.
type resetOptions struct {
	dir                  string
	topics               []string
	allTopics            bool
	toEarliest, toLatest bool
	toOffset             int64
	toDatetime           string
	shiftBy              int64
	execute              bool
}

func newGroupsResetCommand(e *env) *cobra.Command {
	var o resetOptions
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Reset a consumer group's committed offsets (a dry run unless --execute)",
		Long: `Reset a consumer group's committed offsets, as kafka-consumer-groups
--reset-offsets does. By default it is a dry run: it prints the offsets
the group has now and those it would get, and changes nothing (the
directory is opened read-only). With --execute it commits them, in one
atomic commit (the directory is opened read-write). The group must have
no members: offline it has none.

Which partitions: --topic T (every partition of T) or --topic T:0,2
(repeatable), or --all-topics (every partition the group has an offset
for). Where to: exactly one of --to-earliest, --to-latest, --to-offset N
(clamped to each partition's range), --to-datetime T (the first record at
or after T, RFC 3339 or Unix ms), --shift-by N (the committed offset
plus N, negative to go back, clamped).`,
		Example: `  commitlog groups reset-offsets -d /var/lib/app/log billing --all-topics --to-earliest
  commitlog groups reset-offsets -d /var/lib/app/log billing --topic orders --to-datetime 2024-05-01T00:00:00Z --execute
  commitlog groups reset-offsets -d /var/lib/app/log billing --topic orders:0,1 --shift-by -100 --execute`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return resetOffsets(cmd, e, o, args[0])
		},
	}
	dirFlag(cmd, &o.dir)
	f := cmd.Flags()
	f.StringArrayVar(&o.topics, "topic", nil, "topic T, or T:P1,P2 for some partitions (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "every partition the group has a committed offset for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to each partition's start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to each partition's high watermark")
	f.Int64Var(&o.toOffset, "to-offset", -1, "reset to this offset (clamped to each partition's range)")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first record at or after this time")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move each committed offset by N (negative: back)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets (default: a dry run that changes nothing)")
	return cmd
}

// resetPlan is the offsets a reset moves from and to.
type resetPlan struct {
	tp       commitlog.TopicPartition
	current  int64 // -1: none
	newValue int64
}

func resetOffsets(cmd *cobra.Command, e *env, o resetOptions, group string) (err error) {
	ctx := cmd.Context()
	modes := 0
	for _, set := range []bool{o.toEarliest, o.toLatest, cmd.Flags().Changed("to-offset"), o.toDatetime != "", cmd.Flags().Changed("shift-by")} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	if (len(o.topics) > 0) == o.allTopics {
		return errors.New("give either --topic (repeatable) or --all-topics")
	}
	var to resetTarget
	switch {
	case o.toEarliest:
		to = resetTarget{kind: "earliest", spec: commitlog.EarliestOffset()}
	case o.toLatest:
		to = resetTarget{kind: "latest", spec: commitlog.LatestOffset()}
	case cmd.Flags().Changed("to-offset"):
		if o.toOffset < 0 {
			return fmt.Errorf("--to-offset %d: must be at least 0", o.toOffset)
		}
		to = resetTarget{kind: "offset", offset: o.toOffset, spec: commitlog.ExactOffset(o.toOffset)}
	case o.toDatetime != "":
		t, err := parseTime(o.toDatetime)
		if err != nil {
			return err
		}
		to = resetTarget{kind: "time", at: t, spec: commitlog.OffsetAtTime(t)}
	default:
		to = resetTarget{kind: "shift", offset: o.shiftBy}
	}
	mode := readOnly
	if o.execute {
		mode = readWrite
	}
	l, err := openLog(o.dir, mode, e.stderr)
	if err != nil {
		return err
	}
	defer closeLog(l, &err)
	committed := map[commitlog.TopicPartition]int64{}
	if d, err := l.DescribeGroup(group); err == nil {
		for _, p := range d.Partitions {
			if p.Committed >= 0 {
				committed[p.TopicPartition] = p.Committed
			}
		}
	} else if !errors.Is(err, commitlog.ErrUnknownGroup) {
		return err
	}
	tps, err := resetPartitions(l, o, committed)
	if err != nil {
		return err
	}
	if len(tps) == 0 {
		return fmt.Errorf("%w: group %q has no committed offsets (name the partitions with --topic)", commitlog.ErrUnknownGroup, group)
	}
	plan := make([]resetPlan, 0, len(tps))
	for _, tp := range tps {
		cur, ok := committed[tp]
		if !ok {
			cur = -1
		}
		t, err := l.Topic(tp.Topic)
		if err != nil {
			return err
		}
		p, err := t.Partition(tp.Partition)
		if err != nil {
			return err
		}
		if to.kind == "shift" && !ok {
			return fmt.Errorf("--shift-by: group %q has no committed offset for %s-%d to shift", group, tp.Topic, tp.Partition)
		}
		target, err := to.resolve(p, cur)
		if err != nil {
			return err
		}
		plan = append(plan, resetPlan{tp: tp, current: cur, newValue: target})
	}
	if o.execute {
		if err := applyReset(ctx, l, group, plan, to); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, r := range plan {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", group, r.tp.Topic, r.tp.Partition, unknown(r.current), r.newValue)
	}
	tw.Flush()
	if o.execute {
		fmt.Fprintf(e.stderr, "committed the new offsets of group %s\n", group)
	} else {
		fmt.Fprintln(e.stderr, "dry run: nothing was changed; add --execute to commit these offsets")
	}
	return nil
}

// resetPartitions returns the partitions a reset covers, sorted.
func resetPartitions(l *commitlog.Log, o resetOptions, committed map[commitlog.TopicPartition]int64) ([]commitlog.TopicPartition, error) {
	if o.allTopics {
		return slices.SortedFunc(maps.Keys(committed), compareTP), nil
	}
	set := map[commitlog.TopicPartition]bool{}
	for _, arg := range o.topics {
		name, parts, hasParts := strings.Cut(arg, ":")
		t, err := l.Topic(name)
		if err != nil {
			return nil, err
		}
		if !hasParts {
			for id := range t.NumPartitions() {
				set[commitlog.TopicPartition{Topic: name, Partition: id}] = true
			}
			continue
		}
		for _, s := range strings.Split(parts, ",") {
			id, err := strconv.ParseInt(s, 10, 32)
			if err != nil || id < 0 || int32(id) >= t.NumPartitions() {
				return nil, fmt.Errorf("--topic %s: partition %q: topic %s has partitions 0 to %d", arg, s, name, t.NumPartitions()-1)
			}
			set[commitlog.TopicPartition{Topic: name, Partition: int32(id)}] = true
		}
	}
	return slices.SortedFunc(maps.Keys(set), compareTP), nil
}

func compareTP(a, b commitlog.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition - b.Partition)
}

// resetTarget is where a reset moves offsets: the library's OffsetSpec,
// and what the dry run needs to resolve it the same way.
type resetTarget struct {
	kind   string // earliest, latest, offset, time, shift
	offset int64  // offset: the offset; shift: the shift
	at     time.Time
	spec   commitlog.OffsetSpec // all but shift
}

// resolve returns the new offset in p for a partition whose committed
// offset is cur, by the rules of commitlog.OffsetSpec (a shift is an
// exact offset, cur plus the shift): clamped to [start, high watermark].
func (r resetTarget) resolve(p *commitlog.Partition, cur int64) (int64, error) {
	start, hw := p.StartOffset(), p.HighWatermark()
	switch r.kind {
	case "earliest":
		return start, nil
	case "latest":
		return hw, nil
	case "time":
		return p.OffsetForTime(r.at)
	case "shift":
		return min(max(cur+r.offset, start), hw), nil
	}
	return min(max(r.offset, start), hw), nil
}

// applyReset commits the plan's offsets: through ResetGroupOffsets for a
// spec (which resolves them again, to the same offsets: nothing else
// writes to the directory while it is open), and for a shift as a manual
// consumer's commit of the planned offsets. Either way it is one atomic
// commit.
func applyReset(ctx context.Context, l *commitlog.Log, group string, plan []resetPlan, to resetTarget) error {
	if to.kind != "shift" {
		spec := to.spec
		tps := make([]commitlog.TopicPartition, len(plan))
		for i, r := range plan {
			tps[i] = r.tp
		}
		got, err := l.ResetGroupOffsets(ctx, group, spec, tps...)
		if err != nil {
			return err
		}
		for i, r := range plan {
			plan[i].newValue = got[r.tp]
		}
		return nil
	}
	offsets := map[commitlog.TopicPartition]int64{}
	var tps []commitlog.TopicPartition
	for _, r := range plan {
		offsets[r.tp] = r.newValue
		tps = append(tps, r.tp)
	}
	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: group, Partitions: tps, DisableAutoCommit: true})
	if err != nil {
		return err
	}
	return errors.Join(c.CommitOffsets(ctx, offsets), c.Close())
}
