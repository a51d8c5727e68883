package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runPlan is what the parent process runs.
type runPlan struct {
	scale      scale
	reps       int
	systems    []string
	workloads  []workload
	dir        string
	cpuProfile string
	memProfile string
}

// measurement is one child run as the parent saw it.
type measurement struct {
	result
	CPU    float64 // user + system seconds
	SysCPU float64 // of which system seconds
	// MinorFaults and MajorFaults are the page faults the child took (a
	// fault served from the page cache, and one that waited for the disk).
	MinorFaults, MajorFaults int64
	DiskBytes                int64 // bytes allocated on disk by the data directory afterwards
}

// runResults is everything a run measured.
type runResults struct {
	plan     runPlan
	started  time.Time
	elapsed  time.Duration
	machine  machineFacts
	limits   machineLimits
	runs     map[string]map[string][]measurement // system → workload → repetitions
	errors   []string
	failures int
}

func (p runPlan) run(ctx context.Context, progress io.Writer) (*runResults, error) {
	res := &runResults{plan: p, started: time.Now(), runs: map[string]map[string][]measurement{}}
	root := p.dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "commitlog-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(root)
	} else if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{p.cpuProfile, p.memProfile} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	res.machine = describeMachine(root)
	fmt.Fprintf(progress, "machine: %s, %d CPUs, %s, %s on %s\n", res.machine.CPU, res.machine.CPUs,
		formatBytes(res.machine.Memory), res.machine.Kernel, res.machine.FileSystem)
	var err error
	if res.limits, err = measureLimits(root, p.scale); err != nil {
		return nil, fmt.Errorf("machine limits: %w", err)
	}
	fmt.Fprintf(progress, "limits: memcpy %.0f MB/s, new-file write %.0f MB/s, fdatasync p50 %.0f µs p99 %.0f µs, durable batches %.0f records/s, cold read %.0f MB/s\n",
		res.limits.MemcpyMBps, res.limits.WriteMBps, res.limits.FsyncP50, res.limits.FsyncP99, res.limits.DurableBatchRate, res.limits.ColdReadMBps)

	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	seq := 0
	for rep := range p.reps {
		for _, name := range p.systems {
			sys, _ := systemByName(name)
			// Data a write workload leaves for read workloads, by workload name.
			kept := map[string]string{}
			expect := map[string]int64{}
			for _, w := range p.workloadsFor(sys) {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				seq++
				dir := filepath.Join(root, fmt.Sprintf("%03d", seq))
				var want int64
				if w.Kind == kindRead {
					if kept[w.Reads] == "" {
						fmt.Fprintf(progress, "rep %d %-16s %-12s no data: %s failed\n", rep+1, sys.name, w.Name, w.Reads)
						continue
					}
					dir, want = kept[w.Reads], expect[w.Reads]
					if w.Cold {
						if err := evictFromCache(dir); err != nil {
							return nil, fmt.Errorf("evict %s: %w", dir, err)
						}
					}
				}
				m, err := p.runChild(ctx, exe, sys, w, dir, want, rep, seq)
				selected := p.selected(w.Name)
				if err != nil {
					res.failures++
					res.errors = append(res.errors, fmt.Sprintf("%s %s rep %d: %v", sys.name, w.Name, rep+1, err))
					fmt.Fprintf(progress, "rep %d %-16s %-12s FAILED: %v\n", rep+1, sys.name, w.Name, err)
				} else if selected {
					fmt.Fprintf(progress, "rep %d %-16s %-12s %s\n", rep+1, sys.name, w.Name, m.brief(w))
				}
				if err == nil && selected {
					if res.runs[sys.name] == nil {
						res.runs[sys.name] = map[string][]measurement{}
					}
					res.runs[sys.name][w.Name] = append(res.runs[sys.name][w.Name], m)
				}
				if w.Kind == kindWrite && p.readers(w.Name) && err == nil {
					if err := writeBack(dir); err != nil {
						return nil, fmt.Errorf("write back %s: %w", dir, err)
					}
					kept[w.Name], expect[w.Name] = dir, m.Records
					continue
				}
				if w.Kind != kindRead {
					os.RemoveAll(dir)
				}
			}
			for _, dir := range kept {
				os.RemoveAll(dir)
			}
		}
	}
	res.elapsed = time.Since(res.started)
	return res, nil
}

// workloadsFor returns what the system runs, in order: the selected
// workloads plus the write runs whose data a selected read needs.
func (p runPlan) workloadsFor(sys system) []workload {
	need := map[string]bool{}
	for _, w := range p.workloads {
		if sys.runs(w) {
			need[w.Name] = true
			if w.Reads != "" {
				need[w.Reads] = true
			}
		}
	}
	var out []workload
	for _, w := range workloads {
		if need[w.Name] {
			out = append(out, w)
		}
	}
	return out
}

func (p runPlan) selected(name string) bool {
	for _, w := range p.workloads {
		if w.Name == name {
			return true
		}
	}
	return false
}

// readers reports whether a selected read workload reads the named write
// workload's data.
func (p runPlan) readers(name string) bool {
	for _, w := range p.workloads {
		if w.Reads == name {
			return true
		}
	}
	return false
}

// childTimeout bounds one child run; the longest full-scale run takes
// under 15 s.
const childTimeout = 3 * time.Minute

func (p runPlan) runChild(ctx context.Context, exe string, sys system, w workload, dir string, expect int64, rep, seq int) (measurement, error) {
	t := task{
		System: sys.name, Workload: w.Name, Dir: dir, Scale: p.scale, Expect: expect,
		Seed:       uint64(seq),
		Rep:        rep,
		ResultPath: dir + ".result.json",
	}
	profileName := fmt.Sprintf("%s-%s-%d.pprof", strings.ReplaceAll(sys.name, "/", "_"), w.Name, rep+1)
	if p.cpuProfile != "" {
		t.CPUProfile = filepath.Join(p.cpuProfile, "cpu-"+profileName)
	}
	if p.memProfile != "" {
		t.MemProfile = filepath.Join(p.memProfile, "mem-"+profileName)
	}
	spec, err := json.Marshal(t)
	if err != nil {
		return measurement{}, err
	}
	defer os.Remove(t.ResultPath)
	cctx, cancel := context.WithTimeout(ctx, childTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "-child", string(spec))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	runErr := cmd.Run()
	var m measurement
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.CPU = timeval(ru.Utime) + timeval(ru.Stime)
			m.SysCPU = timeval(ru.Stime)
			m.MinorFaults, m.MajorFaults = ru.Minflt, ru.Majflt
		}
	}
	if runErr != nil {
		return m, fmt.Errorf("%v: %s", runErr, lastLines(stderr.String(), 5))
	}
	data, err := os.ReadFile(t.ResultPath)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m.result); err != nil {
		return m, err
	}
	m.DiskBytes = diskBytes(dir)
	return m, nil
}

func timeval(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// diskBytes returns the bytes allocated on disk to the files under dir.
func diskBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// brief is the progress line of one run.
func (m measurement) brief(w workload) string {
	if m.Skipped != "" {
		return "skipped: " + m.Skipped
	}
	s := ""
	switch w.Kind {
	case kindLatency, kindTail:
		s = fmt.Sprintf("p50 %.1f µs  p99 %.1f µs", m.P50, m.P99)
	default:
		s = fmt.Sprintf("%.0f records/s  %.1f MB/s", m.rate(), m.mbps())
	}
	if m.BareWriteMBps > 0 {
		s += fmt.Sprintf(" (plain writes %.1f MB/s)", m.BareWriteMBps)
	}
	if m.Capped {
		s += fmt.Sprintf(" (capped: %d records)", m.Records)
	}
	return s + fmt.Sprintf("  rss %s  cpu %.2fs (sys %.2fs, faults %d+%d)  disk %s",
		formatBytes(m.PeakRSS), m.CPU, m.SysCPU, m.MinorFaults, m.MajorFaults, formatBytes(m.DiskBytes))
}

func (m measurement) rate() float64 {
	if m.Seconds == 0 {
		return 0
	}
	return float64(m.Records) / m.Seconds
}

func (m measurement) mbps() float64 {
	if m.Seconds == 0 {
		return 0
	}
	return float64(m.Bytes) / m.Seconds / 1e6
}
