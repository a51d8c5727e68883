// Command bench measures commitlog against the embeddable logs a Go
// developer would pick instead — tidwall/wal, Pebble and bbolt used as a
// log, NATS JetStream embedded in-process, and franz-go's kfake reached
// with the franz-go client — on the same workloads, in one run, next to
// the machine's own limits. The replicated workloads (R1, R3lat) run
// three replicas in the one process: commitlog's Logs on the in-memory
// network and three NATS servers clustered over loopback; the other peers
// do not replicate and are reported as n/a.
//
//	cd bench && go run .            # full run: writes RESULTS.md (under 12 minutes)
//	cd bench && go run . -quick     # small sizes, one repetition (under a minute)
//	cd bench && go run . -from RESULTS.json -out RESULTS.md  # the report again, from a run's raw figures
//
// Every system × workload × repetition runs in a child process of its own
// (this binary, re-executed with -child), so peak RSS and CPU time are the
// run's alone; the parent reads them from the child's rusage and measures
// the bytes the run left on disk. Results are medians over the
// repetitions, with the spread (lowest–highest).
//
// -systems and -workloads select a subset; -cpuprofile and -memprofile
// write a pprof profile of each child's measured phase into a directory.
// A report is written with the raw measurements beside it (RESULTS.json
// for RESULTS.md); -from renders a report again from them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
)

func main() {
	var (
		quick      = flag.Bool("quick", false, "small sizes and one repetition, to check that the harness works (under a minute)")
		reps       = flag.Int("reps", 5, "repetitions of every system × workload (the full run needs at least 3; one slow repetition moves a median of 3, so 5 by default)")
		systems    = flag.String("systems", "", "comma-separated systems to run (default all but the variants, commitlog-hooks): "+strings.Join(systemNames(), ","))
		workloads  = flag.String("workloads", "", "comma-separated workloads to run (default all): "+strings.Join(workloadNames(), ","))
		out        = flag.String("out", "", `markdown report to write (default "RESULTS.md" for a full run of everything, none otherwise)`)
		dir        = flag.String("dir", "", "directory for the systems' data (default a new directory under $TMPDIR)")
		cpuProfile = flag.String("cpuprofile", "", "directory to write a CPU profile of every child run into")
		memProfile = flag.String("memprofile", "", "directory to write an allocation profile of every child run into")
		from       = flag.String("from", "", "render the report again from the raw measurements a run saved (RESULTS.json) instead of running")
		child      = flag.String("child", "", "internal: run one task, given as JSON, and write its result")
	)
	flag.Parse()
	if *from != "" {
		res, err := loadResults(*from)
		if err != nil {
			fatalf("%v", err)
		}
		writeReport(res, *out, false)
		return
	}
	if *child != "" {
		if err := runChild(*child); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}

	plan := runPlan{
		scale:      fullScale,
		reps:       *reps,
		dir:        *dir,
		cpuProfile: *cpuProfile,
		memProfile: *memProfile,
	}
	if *quick {
		plan.scale = quickScale
		plan.reps = 1
	}
	if plan.reps < 1 {
		fatalf("-reps must be at least 1")
	}
	var err error
	if plan.systems, err = selectNames(*systems, systemNames(), defaultSystemNames()); err != nil {
		fatalf("-systems: %v", err)
	}
	if plan.workloads, err = selectWorkloads(*workloads); err != nil {
		fatalf("-workloads: %v", err)
	}
	report := *out
	if report == "" && !*quick && *systems == "" && *workloads == "" {
		report = "RESULTS.md"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := plan.run(ctx, os.Stderr)
	if err != nil {
		fatalf("%v", err)
	}
	writeReport(res, report, true)
	if res.failures > 0 {
		fatalf("%d runs failed", res.failures)
	}
}

// writeReport prints the markdown report and writes it to report, if set,
// with the raw measurements beside it when raw is set.
func writeReport(res *runResults, report string, raw bool) {
	md := res.markdown()
	if report != "" {
		if err := os.WriteFile(report, []byte(md), 0o644); err != nil {
			fatalf("%v", err)
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", report)
		if raw {
			if err := res.save(rawPath(report)); err != nil {
				fatalf("%v", err)
			}
			fmt.Fprintf(os.Stderr, "wrote %s\n", rawPath(report))
		}
	}
	fmt.Print(md)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// selectNames returns the names in list (comma-separated) after checking
// each against known, or defaults when list is empty.
func selectNames(list string, known, defaults []string) ([]string, error) {
	if list == "" {
		return defaults, nil
	}
	var names []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, k := range known {
			if strings.EqualFold(n, k) {
				names = append(names, k)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown name %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return names, nil
}
