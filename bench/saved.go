package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// savedRun is everything a run measured, every repetition of every system
// and workload, as written beside its report so that the report can be
// checked against the raw figures, or rendered again (-from) when the way
// it summarises them changes.
type savedRun struct {
	Scale     scale
	Reps      int
	Systems   []string
	Workloads []string
	Started   time.Time
	Elapsed   time.Duration
	Machine   machineFacts
	Limits    machineLimits
	Runs      map[string]map[string][]measurement // system → workload → repetitions
	Errors    []string
	Failures  int
}

// rawPath returns where the raw measurements of the report at path go:
// beside it, with .json for .md.
func rawPath(report string) string {
	return strings.TrimSuffix(report, ".md") + ".json"
}

// save writes the run's measurements to path as indented JSON.
func (r *runResults) save(path string) error {
	s := savedRun{
		Scale: r.plan.scale, Reps: r.plan.reps, Systems: r.plan.systems,
		Started: r.started, Elapsed: r.elapsed, Machine: r.machine, Limits: r.limits,
		Runs: r.runs, Errors: r.errors, Failures: r.failures,
	}
	for _, w := range r.plan.workloads {
		s.Workloads = append(s.Workloads, w.Name)
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadResults reads measurements that save wrote.
func loadResults(path string) (*runResults, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s savedRun
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &runResults{
		plan:    runPlan{scale: s.Scale, reps: s.Reps, systems: s.Systems},
		started: s.Started, elapsed: s.Elapsed, machine: s.Machine, limits: s.Limits,
		runs: s.Runs, errors: s.Errors, failures: s.Failures,
	}
	for _, name := range s.Workloads {
		w, ok := workloadByName(name)
		if !ok {
			return nil, fmt.Errorf("%s: unknown workload %q", path, name)
		}
		r.plan.workloads = append(r.plan.workloads, w)
	}
	if r.runs == nil {
		r.runs = map[string]map[string][]measurement{}
	}
	return r, nil
}
