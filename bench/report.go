package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// metric is how a workload is scored.
type metric struct {
	unit   string
	value  func(measurement) float64
	higher bool // higher is better
}

func metricOf(w workload) metric {
	switch {
	case w.Kind == kindLatency || w.Kind == kindTail:
		return metric{unit: "p50 µs", value: func(m measurement) float64 { return m.P50 }}
	case w.Kind == kindGroup || (w.Kind == kindWrite && w.Durable):
		return metric{unit: "records/s", value: measurement.rate, higher: true}
	default:
		return metric{unit: "MB/s", value: measurement.mbps, higher: true}
	}
}

// stats summarises the repetitions of one system × workload.
type stats struct {
	runs              int
	median, lo, hi    float64 // of the workload's metric
	rate, mbps        float64 // medians
	p50, p99          float64
	bareP50, bareP99  float64 // the bare fdatasync timed in the same processes (0: none)
	bareWrite         float64 // the plain writes timed in the same processes, MB/s (0: none)
	rss               int64
	cpu               float64
	disk              int64
	capped            int   // runs stopped at Scale.WriteCap
	cappedRecords     int64 // the fewest records a capped run wrote
	resident          float64
	open              float64
	mbpsWithOpen      float64 // kindRead: MB/s counting the time to open
	skipped           string
	singleDurable     float64 // W6: the system's W3lat rate (records/s)
	haveSingleDurable bool
}

func summarise(ms []measurement, met metric) stats {
	s := stats{runs: len(ms)}
	if len(ms) == 0 {
		return s
	}
	if ms[0].Skipped != "" {
		s.skipped = ms[0].Skipped
		return s
	}
	var vals, rates, mbps, p50, p99, bareP50, bareP99, bareWrite, rss, cpu, disk, res, open, withOpen []float64
	for _, m := range ms {
		vals = append(vals, met.value(m))
		rates = append(rates, m.rate())
		mbps = append(mbps, m.mbps())
		p50, p99 = append(p50, m.P50), append(p99, m.P99)
		bareP50, bareP99 = append(bareP50, m.BareP50), append(bareP99, m.BareP99)
		if m.BareWriteMBps > 0 {
			bareWrite = append(bareWrite, m.BareWriteMBps)
		}
		rss, cpu, disk = append(rss, float64(m.PeakRSS)), append(cpu, m.CPU), append(disk, float64(m.DiskBytes))
		res, open = append(res, m.Resident), append(open, m.Open)
		if t := m.Seconds + m.Open; t > 0 {
			withOpen = append(withOpen, float64(m.Bytes)/t/1e6)
		}
		if m.Capped {
			if s.capped == 0 || m.Records < s.cappedRecords {
				s.cappedRecords = m.Records
			}
			s.capped++
		}
	}
	s.median, s.lo, s.hi = median(vals), slices.Min(vals), slices.Max(vals)
	s.rate, s.mbps, s.p50, s.p99 = median(rates), median(mbps), median(p50), median(p99)
	s.bareP50, s.bareP99 = median(bareP50), median(bareP99)
	if len(bareWrite) > 0 {
		s.bareWrite = median(bareWrite)
	}
	s.rss, s.cpu, s.disk, s.resident = int64(median(rss)), median(cpu), int64(median(disk)), median(res)
	s.open, s.mbpsWithOpen = median(open), median(withOpen)
	return s
}

func isPeer(name string) bool { return !strings.HasPrefix(name, "commitlog") }

// table returns the stats of every system that ran the workload, in the
// order of systems.
func (r *runResults) table(w workload) (names []string, st map[string]stats) {
	met := metricOf(w)
	st = map[string]stats{}
	for _, sys := range systems {
		ms := r.runs[sys.name][w.Name]
		if len(ms) == 0 {
			continue
		}
		s := summarise(ms, met)
		if w.Kind == kindGroup {
			if single := r.runs[sys.name]["W3lat"]; len(single) > 0 {
				s.singleDurable = median(mapSlice(single, measurement.rate))
				s.haveSingleDurable = true
			}
		}
		names = append(names, sys.name)
		st[sys.name] = s
	}
	return names, st
}

func mapSlice(ms []measurement, f func(measurement) float64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

// bestPeer returns the best median among the peers, and its system.
func bestPeer(w workload, st map[string]stats) (float64, string) {
	met := metricOf(w)
	best, who := math.NaN(), ""
	for name, s := range st {
		if !isPeer(name) || s.skipped != "" || s.runs == 0 {
			continue
		}
		if math.IsNaN(best) || (met.higher && s.median > best) || (!met.higher && s.median < best) {
			best, who = s.median, name
		}
	}
	return best, who
}

// limit returns the machine limit the workload's metric is compared with,
// and what it is; ok is false when none applies.
func (r *runResults) limit(w workload, s stats) (value float64, what string, ok bool) {
	l := r.limits
	switch {
	case w.Kind == kindWrite && !w.Durable && s.bareWrite > 0:
		return s.bareWrite, "plain writes of the same bytes into a new file, timed in the same processes", true
	case w.Kind == kindWrite && !w.Durable:
		return l.WriteMBps, "new-file write bandwidth", true
	case w.Kind == kindWrite && w.Durable:
		return l.DurableBatchRate, "a bare write + fdatasync of each batch's payload", true
	case w.Kind == kindLatency && s.bareP50 > 0:
		return s.bareP50, "bare fdatasync p50, timed interleaved in the same processes", true
	case w.Kind == kindLatency:
		return l.FsyncP50, "bare fdatasync p50", true
	case w.Kind == kindRead && w.Cold:
		return l.ColdReadMBps, "sequential read bandwidth of a cold file", true
	case w.Kind == kindRead:
		return l.MemcpyMBps, "memcpy bandwidth", true
	case w.Kind == kindGroup && s.haveSingleDurable:
		return s.singleDurable, "the system's single-goroutine durable rate (W3lat)", true
	}
	return 0, "", false
}

func (r *runResults) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "`go run .`"
	if r.plan.scale.Name == "quick" {
		mode = "`go run . -quick` (small sizes: not comparable with a full run)"
	}
	p("# Benchmark results\n\n")
	p("Produced by %s in `bench/` on %s, in %s. Every system × workload × repetition ran in a child process of its own; %d repetition(s); figures are medians, with the spread (lowest–highest) across repetitions.\n\n",
		mode, r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second), r.plan.reps)
	m := r.machine
	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s |\n| CPUs | %d |\n| Memory | %s |\n| Kernel | %s |\n| File system of the data directory | %s |\n| Go | %s |\n\n",
		m.CPU, m.CPUs, formatBytes(m.Memory), m.Kernel, m.FileSystem, m.GoVersion)
	l := r.limits
	p("Limits, measured in the same run (medians of %d rounds):\n\n| limit | measured |\n|---|---|\n", r.plan.scale.LimitRounds)
	p("| memcpy between two 64 MiB buffers | %s MB/s |\n", num(l.MemcpyMBps))
	p("| sequential 1 MiB writes into a new file, %s, no fsync | %s MB/s |\n", formatBytes(r.plan.scale.LimitBytes), num(l.WriteMBps))
	p("| append 100 B to a file + fdatasync, %d times | p50 %s µs, p99 %s µs |\n", r.plan.scale.LatencyOps, num(l.FsyncP50), num(l.FsyncP99))
	p("| append batches of %d × %d B (keys and values, no format) to a new file, one write + fdatasync each | %s records/s |\n", r.plan.scale.Batch, limitRecordBytes, num(l.DurableBatchRate))
	p("| sequential 1 MiB reads of a %s file not in the page cache | %s MB/s |\n\n", formatBytes(int64(r.plan.scale.Records)*limitRecordBytes), num(l.ColdReadMBps))

	r.summaryTable(&b)
	r.targets(&b)

	p("## Workloads\n\n")
	p("Values are random (incompressible) unless stated; the 16-byte key is written only by the systems that have record keys, and counted in their MB/s. MB/s is payload (values, plus keys where present) per second, 10⁶ bytes. \"÷ best peer\" divides by the best of tidwall/wal, Pebble, bbolt, NATS and kfake (for latencies, lower is better, so below 1 is better). Peak RSS and CPU seconds are the child process's; disk is what the run left allocated on disk.\n\n")
	for _, w := range r.plan.workloads {
		r.workloadTable(&b, w)
	}
	p("## How each system is used\n\n")
	for _, sys := range systems {
		if _, ran := r.runs[sys.name]; ran {
			p("- **%s**: %s.\n", sys.name, sys.usage)
		}
	}
	if r.replicated() {
		p("\nReplicated runs (R1, R3lat): every replica in the one child process, each with its own data directory on the same disk.\n\n")
		for _, sys := range systems {
			if _, ran := r.runs[sys.name]; ran && sys.replicated != nil {
				p("- **%s**: %s.\n", sys.name, sys.replicatedUsage)
			}
		}
		var none []string
		for _, sys := range systems {
			if _, ran := r.runs[sys.name]; ran && sys.replicated == nil && !sys.client {
				none = append(none, sys.name)
			}
		}
		if len(none) > 0 {
			p("- %s: n/a, no replication (the reasons are in the tables).\n", strings.Join(none, ", "))
		}
	}
	p("\nWrite runs stop early after %v (marked \"capped\"): the durable peers would otherwise take minutes; their rate is what they reached. W5's producer sends one record every %v and measures from just before the append call to the consumer's receipt; it first sends records until the consumer receives one, then %d more, and measures none of those.\n",
		r.plan.scale.WriteCap, time.Second/time.Duration(r.plan.scale.TailRate), tailSettle)
	if len(r.errors) > 0 {
		p("\n## Failed runs\n\n")
		for _, e := range r.errors {
			p("- %s\n", e)
		}
	}
	return b.String()
}

// summaryTable writes systems × workloads, each cell the workload's
// metric, and rows for this library's ratios.
func (r *runResults) summaryTable(b *strings.Builder) {
	var cols []workload
	for _, w := range r.plan.workloads {
		if !w.Client {
			cols = append(cols, w)
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintf(b, "## Summary\n\n| system |")
	for _, w := range cols {
		fmt.Fprintf(b, " %s %s |", w.Name, metricOf(w).unit)
	}
	fmt.Fprintf(b, "\n|---|")
	for range cols {
		fmt.Fprintf(b, "---:|")
	}
	fmt.Fprintln(b)
	tables := map[string]map[string]stats{}
	for _, w := range cols {
		_, tables[w.Name] = r.table(w)
	}
	for _, sys := range systems {
		if sys.client {
			continue
		}
		if _, ran := r.runs[sys.name]; !ran {
			continue
		}
		fmt.Fprintf(b, "| %s |", sys.name)
		for _, w := range cols {
			fmt.Fprintf(b, " %s |", cell(tables[w.Name][sys.name]))
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintf(b, "| *commitlog ÷ best peer* |")
	for _, w := range cols {
		best, who := bestPeer(w, tables[w.Name])
		own, ok := tables[w.Name]["commitlog"]
		if !ok || own.skipped != "" || math.IsNaN(best) || best == 0 {
			fmt.Fprintf(b, " |")
			continue
		}
		fmt.Fprintf(b, " %.2f× (%s) |", own.median/best, who)
	}
	fmt.Fprintf(b, "\n| *commitlog ÷ machine limit* |")
	for _, w := range cols {
		own, ok := tables[w.Name]["commitlog"]
		lim, _, hasLimit := r.limit(w, own)
		if !ok || !hasLimit || lim == 0 || own.skipped != "" {
			fmt.Fprintf(b, " |")
			continue
		}
		fmt.Fprintf(b, " %.2f× |", own.median/lim)
	}
	fmt.Fprintf(b, "\n\nMachine limit per column: W1, W2 plain writes of the same bytes (one batch's payload per write) into a new file, timed in the same processes, before the system's writes in odd repetitions and after them in even ones (the new-file write bandwidth above when none was timed); W3 a bare write + fdatasync of each batch's payload (%d records); W3lat the bare fdatasync p50 timed interleaved with it in the same processes; W4warm memcpy bandwidth; W4cold the sequential read bandwidth of a cold file; W6 the system's own single-goroutine durable rate (W3lat)", r.plan.scale.Batch)
	if r.replicated() {
		fmt.Fprintf(b, "; R1 as W1 and R3lat as W3lat, though a replicated run writes every record on each of its replicas, all on this one machine's disk, and its acknowledgement waits for the followers' copies after the leader's")
	}
	fmt.Fprintf(b, ".\n\n")
}

// replicated reports whether the run has a replicated workload.
func (r *runResults) replicated() bool {
	for _, w := range r.plan.workloads {
		if w.Replicas > 0 {
			return true
		}
	}
	return false
}

// cell is a system's figure in the summary table; a skipped run shows its
// reason's short form, what comes before the first colon ("no tail API",
// "no replication").
func cell(s stats) string {
	switch {
	case s.runs == 0:
		return "—"
	case s.skipped != "":
		short, _, _ := strings.Cut(s.skipped, ":")
		return "n/a: " + short
	}
	c := num(s.median)
	if s.capped > 0 {
		c += " (capped)"
	}
	return c
}

// targets writes the targets for this library against what the run
// measured.
func (r *runResults) targets(b *strings.Builder) {
	type target struct {
		what     string
		measured string
		met      bool
	}
	var ts []target
	get := func(name string) (workload, map[string]stats, bool) {
		w, ok := workloadByName(name)
		if !ok || !r.plan.selected(name) {
			return w, nil, false
		}
		_, st := r.table(w)
		own, ok := st["commitlog"]
		return w, st, ok && own.skipped == "" && own.runs > 0
	}
	vsPeer := func(name string, factor float64) {
		w, st, ok := get(name)
		if !ok {
			return
		}
		best, who := bestPeer(w, st)
		if math.IsNaN(best) {
			return
		}
		own := st["commitlog"].median
		ts = append(ts, target{
			what:     fmt.Sprintf("%s ≥ %.1f× the best peer", name, factor),
			measured: fmt.Sprintf("%s vs %s %s %s: %.2f×", num(own), who, num(best), metricOf(w).unit, own/best),
			met:      own >= factor*best,
		})
	}
	vsLimit := func(name string, factor float64) {
		w, st, ok := get(name)
		if !ok {
			return
		}
		own := st["commitlog"]
		lim, what, _ := r.limit(w, own)
		ratio := own.median / lim
		ts = append(ts, target{
			what:     fmt.Sprintf("%s ≥ %.1f× %s", name, factor, what),
			measured: fmt.Sprintf("%s vs %s MB/s: %.2f×", num(own.median), num(lim), ratio),
			met:      ratio >= factor,
		})
	}
	vsPeer("W1", 1.5)
	vsLimit("W1", 0.7)
	vsLimit("W2", 0.9)
	vsPeer("W3", 1.5)
	if w, st, ok := get("W3lat"); ok {
		own := st["commitlog"]
		bare, _, _ := r.limit(w, own)
		ts = append(ts, target{
			what:     "W3lat p50 ≤ 1.1× bare fdatasync p50",
			measured: fmt.Sprintf("%s µs vs %s µs: %.2f×", num(own.p50), num(bare), own.p50/bare),
			met:      own.p50 <= 1.1*bare,
		})
	}
	// A read in a fresh process also waits for the open, and a peer's open
	// may itself read the data: bbolt with NoFreelistSync walks every page
	// to rebuild its freelist, so that from a cold cache its read phase
	// runs over pages its open has already read. Both are judged.
	vsPeerCountingOpen := func(name string) {
		_, st, ok := get(name)
		if !ok {
			return
		}
		best, who := math.NaN(), ""
		for name, s := range st {
			if isPeer(name) && s.skipped == "" && s.runs > 0 && (math.IsNaN(best) || s.mbpsWithOpen > best) {
				best, who = s.mbpsWithOpen, name
			}
		}
		if math.IsNaN(best) {
			return
		}
		own := st["commitlog"].mbpsWithOpen
		ts = append(ts, target{
			what:     name + " ≥ 1.0× the best peer, counting the time to open",
			measured: fmt.Sprintf("%s vs %s %s MB/s: %.2f×", num(own), who, num(best), own/best),
			met:      own >= best,
		})
	}
	vsPeer("W4warm", 1)
	vsPeerCountingOpen("W4warm")
	vsPeer("W4cold", 1)
	vsPeerCountingOpen("W4cold")
	if _, st, ok := get("W5"); ok {
		own := st["commitlog"]
		ts = append(ts, target{what: "W5 p50 ≤ 20 µs", measured: num(own.p50) + " µs", met: own.p50 <= 20})
		ts = append(ts, target{what: "W5 p99 ≤ 100 µs", measured: num(own.p99) + " µs", met: own.p99 <= 100})
	}
	if w, st, ok := get("W6"); ok {
		own := st["commitlog"]
		if own.haveSingleDurable {
			ts = append(ts, target{
				what:     "W6 ≥ 20× the single-goroutine durable rate",
				measured: fmt.Sprintf("%s vs %s records/s: %.1f×", num(own.median), num(own.singleDurable), own.median/own.singleDurable),
				met:      own.median >= 20*own.singleDurable,
			})
		}
		best, who := bestPeer(w, st)
		if !math.IsNaN(best) {
			ts = append(ts, target{
				what:     "W6 ≥ every peer",
				measured: fmt.Sprintf("%s vs %s %s records/s", num(own.median), who, num(best)),
				met:      own.median >= best,
			})
		}
	}
	if _, st, ok := get("W1"); ok {
		own := st["commitlog"]
		ts = append(ts, target{what: "W1 peak RSS ≤ 64 MiB", measured: formatBytes(own.rss), met: own.rss <= 64<<20})
	}
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(b, "## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range ts {
		met := "yes"
		if !t.met {
			met = "**no**"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.what, t.measured, met)
	}
	fmt.Fprintln(b)
}

func (r *runResults) workloadTable(b *strings.Builder, w workload) {
	names, st := r.table(w)
	if len(names) == 0 {
		return
	}
	met := metricOf(w)
	best, _ := bestPeer(w, st)
	fmt.Fprintf(b, "### %s — %s\n\n", w.Name, w.Title)
	switch w.Kind {
	case kindLatency:
		fmt.Fprintf(b, "| system | p50 µs | spread | p99 µs | ÷ best peer (p50) | bare fdatasync p50 / p99 µs, same processes | ÷ bare p50 | peak RSS | CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	case kindTail:
		fmt.Fprintf(b, "| system | p50 µs | spread | p99 µs | ÷ best peer (p50) | ÷ limit | peak RSS | CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	case kindGroup:
		fmt.Fprintf(b, "| system | records/s | spread | ÷ best peer | × single-goroutine durable rate | peak RSS | CPU s | disk |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	case kindRead:
		fmt.Fprintf(b, "| system | %s | spread | records/s | ÷ best peer | ÷ limit | open s (not in MB/s) | MB/s counting the open | peak RSS | CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", met.unit)
	default:
		fmt.Fprintf(b, "| system | %s | spread | records/s | ÷ best peer | ÷ limit | peak RSS | CPU s | disk |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n", met.unit)
	}
	for _, name := range names {
		s := st[name]
		if s.skipped != "" {
			fmt.Fprintf(b, "| %s | n/a: %s |\n", name, s.skipped)
			continue
		}
		vsBest := ""
		if !math.IsNaN(best) && best != 0 && !w.Client {
			vsBest = fmt.Sprintf("%.2f×", s.median/best)
		}
		vsLimit := ""
		if lim, _, ok := r.limit(w, s); ok && lim != 0 {
			vsLimit = fmt.Sprintf("%.2f×", s.median/lim)
		}
		spread := num(s.lo) + "–" + num(s.hi)
		value := num(s.median)
		if s.capped > 0 {
			value += fmt.Sprintf(" (%d of %d runs capped, at %s records or more)", s.capped, s.runs, num(float64(s.cappedRecords)))
		}
		if w.Cold {
			value += fmt.Sprintf(" (%.0f%% cached at start)", 100*s.resident)
		}
		switch w.Kind {
		case kindLatency:
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s / %s | %s | %s | %.2f |\n", name, value, spread, num(s.p99), vsBest, num(s.bareP50), num(s.bareP99), vsLimit, formatBytes(s.rss), s.cpu)
		case kindTail:
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %.2f |\n", name, value, spread, num(s.p99), vsBest, vsLimit, formatBytes(s.rss), s.cpu)
		case kindGroup:
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.2f | %s |\n", name, value, spread, vsBest, vsLimit, formatBytes(s.rss), s.cpu, formatBytes(s.disk))
		case kindRead:
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %.3f | %s | %s | %.2f |\n", name, value, spread, num(s.rate), vsBest, vsLimit, s.open, num(s.mbpsWithOpen), formatBytes(s.rss), s.cpu)
		default:
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %.2f | %s |\n", name, value, spread, num(s.rate), vsBest, vsLimit, formatBytes(s.rss), s.cpu, formatBytes(s.disk))
		}
	}
	fmt.Fprintln(b)
}

// num formats a figure with three significant digits or more, and
// thousands separators.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case math.Abs(v) >= 100:
		return thousands(int64(math.Round(v)))
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
