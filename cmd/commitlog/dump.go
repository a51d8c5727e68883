package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog/internal/record"
	"github.com/commitlog-go/commitlog/internal/storage"
)

// dumpOptions are dump's flags.
type dumpOptions struct {
	records  bool
	values   bool
	maxBatch int
}

func newDumpCommand(e *env) *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump FILE...",
		Short: "Print the contents of segment, index and checkpoint files, with their checks",
		Long: `Print what segment files hold, as kafka-dump-log does, checking it on the
way. The files are read directly, batch by batch, never whole: dump
works on a directory another process has open (what it shows may then
be mid-write), on a damaged one, and on partition directories written by
Apache Kafka (the same file format).

  NNN.log        each batch: position, base and last offset, record
                 count, size, magic, the CRC stored and the CRC computed
                 (isValid), attributes (codec, timestamp type,
                 transactional, control), producer id, epoch and base
                 sequence, partition leader epoch, base and max
                 timestamps; with --records each record (offset,
                 timestamp, key and value sizes, header keys; with
                 --print-values the key, value and headers, quoted)
  NNN.index      each entry (offset, position), checked against the
                 segment's .log beside it: the entry must point at the
                 start of the batch whose last offset it names
  NNN.timeindex  each entry (timestamp, offset), checked against the
                 .log: the batch ending at the offset must have that
                 largest timestamp, and it must be the largest so far
  checkpoint     the partition's recovery checkpoint

Zeros from the last batch to the end of a .log file (space prepared for
appends that a clean close trims, or writes a crash lost) are reported,
not counted as damage. Exit status 2 when any batch or entry fails its
check.`,
		Example: `  commitlog dump /var/lib/app/log/orders-0/00000000000000000000.log
  commitlog dump /var/lib/app/log/orders-0/00000000000000000000.log --records --print-values
  commitlog dump /var/lib/app/log/orders-0/*.index /var/lib/app/log/orders-0/*.timeindex
  commitlog dump /var/lib/kafka/data/orders-0/00000000000000000000.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.values {
				o.records = true
			}
			if o.maxBatch < record.HeaderSize {
				return fmt.Errorf("--max-batch-bytes %d: must be at least %d", o.maxBatch, record.HeaderSize)
			}
			w := bufio.NewWriterSize(e.stdout, 64<<10)
			problems := 0
			var errs []error
			for _, path := range args {
				n, err := dumpFile(w, e.stderr, path, o)
				problems += n
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := w.Flush(); err != nil {
				errs = append(errs, err)
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if problems > 0 {
				return &statusError{code: exitCorrupt, msg: fmt.Sprintf("%d problems found (see the lines marked with !)", problems)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.records, "records", false, "print every record of each batch")
	f.BoolVar(&o.values, "print-values", false, "print the records' keys, values and headers (implies --records)")
	f.IntVar(&o.maxBatch, "max-batch-bytes", 16<<20, "largest batch held in memory to decode its records; larger ones have only their CRC checked")
	return cmd
}

// dumpFile dumps one file and returns how many problems it found.
func dumpFile(w *bufio.Writer, stderr io.Writer, path string, o dumpOptions) (int, error) {
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, storage.LogSuffix):
		return dumpLog(w, stderr, path, o)
	case strings.HasSuffix(base, storage.IndexSuffix):
		return dumpIndex(w, stderr, path, false)
	case strings.HasSuffix(base, storage.TimeIndexSuffix):
		return dumpIndex(w, stderr, path, true)
	case base == storage.CheckpointName:
		return dumpCheckpoint(w, path)
	}
	return 0, fmt.Errorf("dump %s: not a file dump reads (NNN.log, NNN.index, NNN.timeindex or checkpoint)", path)
}

// openSegmentFile opens path for reading and returns it with its size.
func openSegmentFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func timestampType(h *record.Header) string {
	if h.LogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// dumpLog dumps a segment data file.
func dumpLog(w *bufio.Writer, stderr io.Writer, path string, o dumpOptions) (problems int, err error) {
	f, size, err := openSegmentFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fmt.Fprintf(w, "Dumping %s\n", path)
	r := newSegmentReader(f, size, o.maxBatch)
	bar := newProgress(stderr, size, "dump "+filepath.Base(path))
	defer bar.finish()
	var it record.Iter
	defer it.Release()
	batches, records := 0, int64(0)
	for {
		b, err := r.next()
		bar.set(r.read)
		if err == io.EOF {
			break
		}
		var bad *badBatchError
		if errors.Is(err, errZeroTail) {
			fmt.Fprintf(w, "position: %d zeros to the end of the file (%d bytes): space prepared for appends, or writes a crash lost; not batches\n", r.pos, size-r.pos)
			break
		}
		if errors.As(err, &bad) {
			fmt.Fprintf(w, "! position: %d unreadable batch: %v; nothing after it can be located\n", bad.pos, bad.err)
			problems++
			break
		}
		if err != nil {
			return problems, fmt.Errorf("dump %s: %w", path, err)
		}
		batches++
		records += int64(b.h.RecordCount)
		h := &b.h
		mark := ""
		if !b.crcValid() {
			mark = "! "
			problems++
		}
		fmt.Fprintf(w, "%sbaseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t position: %d %s: %d baseTimestamp: %d size: %d magic: %d compresscodec: %s crc: %d computedCrc: %d isValid: %t\n",
			mark, h.BaseOffset, h.LastOffset(), h.RecordCount, h.BaseSequence, lastSequence(h), h.ProducerID, h.ProducerEpoch, h.PartitionLeaderEpoch,
			h.Transactional(), h.Control(), b.pos, timestampType(h), h.MaxTimestamp, h.BaseTimestamp, h.Size(), h.Magic, h.Codec(), h.CRC, b.computedCRC, b.crcValid())
		if !o.records || !b.crcValid() {
			continue
		}
		if b.data == nil {
			fmt.Fprintf(w, "| records not decoded: the batch is larger than --max-batch-bytes %d\n", o.maxBatch)
			continue
		}
		if err := it.Reset(b.data, 2*o.maxBatch); err != nil {
			fmt.Fprintf(w, "! | records cannot be decoded: %v\n", err)
			problems++
			continue
		}
		for it.Next() {
			rec := it.Record()
			fmt.Fprintf(w, "| offset: %d %s: %d keySize: %d valueSize: %d headerKeys: [%s]", rec.Offset, timestampType(h), rec.Timestamp, fieldSize(rec.Key), fieldSize(rec.Value), headerKeys(rec.Headers))
			if o.values {
				fmt.Fprintf(w, " key: %s value: %s", quote(rec.Key), quote(rec.Value))
				for _, hd := range rec.Headers {
					fmt.Fprintf(w, " header: %s=%s", strconv.Quote(string(hd.Key)), quote(hd.Value))
				}
			}
			w.WriteByte('\n')
		}
		if err := it.Err(); err != nil {
			fmt.Fprintf(w, "! | records cannot be decoded: %v\n", err)
			problems++
		}
	}
	fmt.Fprintf(w, "Batches: %d Records: %d Problems: %d\n", batches, records, problems)
	return problems, nil
}

func lastSequence(h *record.Header) int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return record.NextSequence(h.BaseSequence, h.LastOffsetDelta)
}

// fieldSize is a key's or value's size, -1 for null.
func fieldSize(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// quote prints a key or value: quoted, or null.
func quote(b []byte) string {
	if b == nil {
		return "null"
	}
	return strconv.Quote(string(b))
}

func headerKeys(hs []record.RecordHeader) string {
	keys := make([]string, len(hs))
	for i, h := range hs {
		keys[i] = string(h.Key)
	}
	return strings.Join(keys, ",")
}

// dumpCheckpoint prints a partition checkpoint file.
func dumpCheckpoint(w *bufio.Writer, path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(w, "Dumping %s\n", path)
	c, err := storage.UnmarshalCheckpoint(b)
	if err != nil {
		fmt.Fprintf(w, "! the checkpoint fails its checks: %v\n", err)
		return 1, nil
	}
	fmt.Fprintf(w, "recoveryOffset: %d segmentBase: %d position: %d logStartOffset: %d activeBase: %d cleanerOffset: %d offsetEntries: %d timeEntries: %d maxTimestamp: %d rollsSynced: %t\n",
		c.RecoveryOffset, c.SegmentBase, c.Position, c.LogStartOffset, c.ActiveBase, c.CleanerOffset, c.OffsetEntries, c.TimeEntries, c.MaxTimestamp,
		c.Flags&storage.CheckpointRollsSynced != 0)
	return 0, nil
}
