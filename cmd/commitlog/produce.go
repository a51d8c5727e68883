package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

// produceOptions are produce's flags.
type produceOptions struct {
	dir          string
	keySeparator string
	headers      []string
	partition    int32
	compression  string
	maxLineBytes int
}

func newProduceCommand(e *env) *cobra.Command {
	o := produceOptions{partition: -1}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce a record for each line of standard input",
		Long: `Produce a record for each line of standard input (without its line
end), through an idempotent producer, and wait until every record is
acknowledged (under the library's default durability: fsynced).

With --key-separator, each line is split at the first occurrence of the
separator into key and value; a line without it has no key. Without it,
records have no key. --header adds the same header to every record. By
default each record's partition is chosen by the hash of its key (keyless
records are spread stickily); --partition puts every record in one
partition. The directory is opened read-write.`,
		Example: `  echo hello | commitlog produce -d /var/lib/app/log orders
  printf 'user1:{"n":1}\nuser2:{"n":2}\n' | commitlog produce -d /var/lib/app/log orders -K :
  commitlog produce -d /var/lib/app/log orders -H source=import -H v=2 -z zstd < events.txt
  commitlog produce -d /var/lib/app/log orders --partition 3 < lines.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return produce(cmd, e, o, args[0])
		},
	}
	dirFlag(cmd, &o.dir)
	f := cmd.Flags()
	f.StringVarP(&o.keySeparator, "key-separator", "K", "", "split each line at the first SEP into key and value")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "add header KEY=VALUE to every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "produce every record to this partition (default: by key hash)")
	f.StringVarP(&o.compression, "compression", "z", "none", "compress batches with none, gzip, snappy, lz4 or zstd (a topic's pinned codec wins)")
	f.IntVar(&o.maxLineBytes, "max-line-bytes", 1<<20, "longest line accepted")
	return cmd
}

func produce(cmd *cobra.Command, e *env, o produceOptions, topic string) (err error) {
	codec, err := parseCodec(o.compression)
	if err != nil {
		return err
	}
	var headers []commitlog.Header
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return fmt.Errorf("--header %q: want KEY=VALUE with a non-empty KEY", h)
		}
		headers = append(headers, commitlog.Header{Key: k, Value: []byte(v)})
	}
	if o.maxLineBytes <= 0 {
		return fmt.Errorf("--max-line-bytes %d: must be positive", o.maxLineBytes)
	}
	l, err := openLog(o.dir, readWrite, e.stderr)
	if err != nil {
		return err
	}
	defer closeLog(l, &err)
	t, err := l.Topic(topic)
	if err != nil {
		return err
	}
	pcfg := commitlog.ProducerConfig{Compression: codec}
	if o.partition >= 0 {
		if o.partition >= t.NumPartitions() {
			return fmt.Errorf("--partition %d: topic %s has partitions 0 to %d", o.partition, topic, t.NumPartitions()-1)
		}
		pcfg.Partitioner = commitlog.ManualPartitioner()
	}
	prod, err := l.NewProducer(pcfg)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		firstErr error
		sent     int
	)
	promise := func(_ *commitlog.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err == nil {
			sent++
		}
	}
	ctx := cmd.Context()
	r := bufio.NewReaderSize(e.stdin, 64<<10)
	line := 0
	var readErr error
	for {
		b, err := readLine(r, o.maxLineBytes)
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			readErr = fmt.Errorf("standard input, line %d: %w", line, err)
			break
		}
		rec := &commitlog.Record{Topic: topic, Partition: o.partition, Value: b, Headers: headers}
		if o.keySeparator != "" {
			if k, v, ok := bytes.Cut(b, []byte(o.keySeparator)); ok {
				rec.Key, rec.Value = k, v
			}
		}
		prod.Produce(ctx, rec, promise)
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
	}
	err = errors.Join(readErr, prod.Flush(ctx), prod.Close())
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		err = errors.Join(firstErr, err)
	}
	fmt.Fprintf(e.stderr, "produced %d records to %s\n", sent, topic)
	return err
}

// readLine returns the next line of r without its line end ("\n" or
// "\r\n"), in a buffer of its own, or io.EOF after the last one. A last
// line without a line end counts. A line longer than max is an error.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > max+2 {
			return nil, fmt.Errorf("line longer than %d bytes (--max-line-bytes)", max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) == 0 {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > max {
			return nil, fmt.Errorf("line longer than %d bytes (--max-line-bytes)", max)
		}
		return line, nil
	}
}
