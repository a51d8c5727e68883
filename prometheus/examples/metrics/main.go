// Command metrics is a small service exporting a commitlog.Log's metrics
// to Prometheus: it opens a Log in a temporary directory, produces to a
// topic and consumes it in a consumer group in the background, and
// serves /metrics.
//
//	go run ./examples/metrics                  # serve on a free loopback port for -duration
//	go run ./examples/metrics -addr 127.0.0.1:9100 -duration 5m
//	go run ./examples/metrics -once            # scrape itself once, print, exit
//
// It prints the address it listens on, stops by itself after -duration
// (or at SIGINT), and removes its directory.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/commitlog-go/commitlog"
	clprom "github.com/commitlog-go/commitlog/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// shown are the metric families -once prints.
var shown = []string{
	"commitlog_appended_records_total",
	"commitlog_partition_high_watermark",
	"commitlog_group_commits_total",
	"commitlog_group_rebalances_total",
	"commitlog_fsync_duration_seconds_count",
}

// run is the whole service: it returns when ctx is done, -duration has
// passed, or, with -once, after its scrape; every goroutine it starts has
// exited by then.
func run(ctx context.Context, args []string, out io.Writer) (err error) {
	fl := flag.NewFlagSet("metrics", flag.ContinueOnError)
	addr := fl.String("addr", "127.0.0.1:0", "address to serve /metrics on")
	once := fl.Bool("once", false, "scrape /metrics once, print some lines and exit")
	duration := fl.Duration("duration", time.Minute, "how long to run before stopping")
	if err := fl.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	dir, err := os.MkdirTemp("", "commitlog-metrics")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	exp := clprom.New(clprom.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	l, err := commitlog.Open(dir, &commitlog.Options{Sync: commitlog.SyncAlways, Hooks: []commitlog.Hook{exp}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	exp.Attach(l)
	if _, err := l.CreateTopic(ctx, "events", commitlog.TopicConfig{Partitions: 2, SegmentBytes: 64 << 10}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "serving http://%s/metrics\n", ln.Addr())

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	errs := make(chan error, 3)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("serve: %w", err)
		}
	})
	wg.Go(func() {
		<-ctx.Done()
		srv.Close()
	})
	committed := make(chan struct{})
	wg.Go(func() {
		if err := produce(ctx, l); err != nil {
			errs <- fmt.Errorf("produce: %w", err)
		}
	})
	wg.Go(func() {
		if err := consume(ctx, l, committed); err != nil {
			errs <- fmt.Errorf("consume: %w", err)
		}
	})

	if *once {
		select {
		case <-committed:
		case err := <-errs:
			return err
		case <-ctx.Done():
			return fmt.Errorf("no commit before stopping: %w", ctx.Err())
		}
		return scrape(ctx, "http://"+ln.Addr().String()+"/metrics", out)
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}

// produce appends a few records every few milliseconds until ctx is
// done.
func produce(ctx context.Context, l *commitlog.Log) error {
	p, err := l.NewProducer(commitlog.ProducerConfig{})
	if err != nil {
		return err
	}
	defer p.Close()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		rs := []*commitlog.Record{
			{Topic: "events", Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "event %d", i)},
			{Topic: "events", Key: fmt.Appendf(nil, "k%d", (i+3)%7), Value: fmt.Appendf(nil, "event %d'", i)},
		}
		if err := p.ProduceSync(ctx, rs...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// consume reads events in group "readers", committing after each poll
// that returned records, and closes committed after the first commit.
func consume(ctx context.Context, l *commitlog.Log, committed chan<- struct{}) error {
	c, err := l.NewConsumer(commitlog.ConsumerConfig{Group: "readers", Topics: []string{"events"}, DisableAutoCommit: true})
	if err != nil {
		return err
	}
	defer c.Close()
	first := true
	for {
		recs, err := c.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		if err := c.Commit(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if first {
			first = false
			close(committed)
		}
	}
}

// scrape GETs url and prints the lines of the shown metric families.
func scrape(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range shown {
			if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
				fmt.Fprintln(out, line)
			}
		}
	}
	return sc.Err()
}
