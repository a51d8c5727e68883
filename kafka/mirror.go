package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commitlog-go/commitlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers a Mirror adds to every record it copies, after the
// record's own (from which earlier ones of these names are removed).
const (
	// MirrorOriginHeader names the cluster where the record was first
	// produced: kept from the record when it has one (it came through
	// another mirror), the source's Name otherwise.
	MirrorOriginHeader = "commitlog-mirror-origin"
	// MirrorSourceHeader names the cluster the record was copied from:
	// the source's Name.
	MirrorSourceHeader = "commitlog-mirror-source"
	// MirrorOffsetHeader is the record's offset in its source partition,
	// 8 bytes big-endian.
	MirrorOffsetHeader = "commitlog-mirror-offset"
)

// MirrorConfig configures a Mirror.
type MirrorConfig struct {
	// Name is the mirror's name: the group its progress is committed to
	// on the source, and the offset-syncs topic mirror.<Name>.offset-syncs
	// on the target. Default "<Source.Name>-<Target.Name>". It must make
	// a valid topic name. One Mirror of a Name runs at a time (see
	// Mirror).
	Name string

	// Source and Target are the two sides; their Names are required and
	// distinct.
	Source, Target Endpoint

	// Topics are the topics copied, with the same names on the target.
	// A topic missing on the target is created with the source's
	// partition count and configuration (what the target accepts of it);
	// a target topic with another partition count is a
	// *commitlog.ConfigError from Run. Required.
	Topics []string

	// Groups are the source's consumer groups whose committed offsets
	// are translated onto the target's groups of the same names. Nil:
	// every group the source lists except the mirror's own (Name); empty
	// and non-nil: none.
	Groups []string

	// CheckpointInterval is how often the mirror writes a sync point for
	// every partition that moved, commits its progress to the source and
	// translates the Groups' offsets. Default 5s.
	CheckpointInterval time.Duration

	// Producer configures the target's producer: batching (BatchBytes,
	// Linger), compression, buffers. The mirror overrides Acks
	// (AckAll), DisableIdempotence (false) and Partitioner (each record
	// goes to its source partition's number).
	Producer commitlog.ProducerConfig

	// Logger receives the mirror's warnings and progress; nil discards.
	Logger *slog.Logger
}

const (
	defaultCheckpointInterval = 5 * time.Second
	// mirrorPollRecords bounds one Poll of the source.
	mirrorPollRecords = 4096
	// shutdownTimeout bounds the work of a Run after its context ends:
	// flushing the producer, the last sync points, commit and
	// checkpoint.
	shutdownTimeout = 30 * time.Second
)

// Mirror copies topics from one cluster (its source Endpoint) to another
// (its target), MirrorMaker 2's job: each record keeps its partition
// number, key, value, headers and timestamp, and gets the three
// Mirror*Header headers. Records are batched and compressed as
// MirrorConfig.Producer says. The source's committed group offsets are
// translated into the target's offsets (MirrorMaker 2's checkpoints).
//
// # Exactly once
//
// The source is read by a consumer on explicit partitions (no group
// membership) and the target written by one idempotent AckAll producer,
// in order per partition. A record whose origin is the target is not
// copied (it came from there: counted as skipped), so mirroring A→B and
// B→A at once never loops.
//
// After each record's acknowledgement the mirror knows its sync point
// (topic, partition, source offset s, target offset d). It writes sync
// points to the target's single-partition topic mirror.<Name>.offset-syncs
// (created with no retention deletion): the first copied record of a
// partition and every one not contiguous with the one copied before it
// (a source gap — compaction, transaction markers, skipped records — or
// a target record written by someone else in between), and every
// CheckpointInterval the latest point of every partition that moved. A
// point is written only after the data it describes is acknowledged, and
// a batch of points only after the one before is. After those periodic
// points the mirror commits s+1 to the source group Name, as a consumer
// group would (lag tools see the mirror's progress there).
//
// Run resumes from the target, never from that commit: it reads the whole
// offset-syncs topic (each partition's table; the last point (s, d) is
// the progress), then reads each target partition from d+1 to its high
// watermark and takes every record whose MirrorSourceHeader is the
// source's Name as copied (rebuilding and writing the sync points it
// finds), and continues the source at 1 + the largest copied source
// offset, or at the partition's start when nothing was copied. A crash
// at any point therefore loses nothing acknowledged and copies nothing
// twice, provided that the previous producer of the mirror is gone
// (closed, or its process dead) before a new Run starts: run one Mirror
// of a Name at a time. Run itself closes its producer before returning,
// whatever ends it, after the requests it had in flight are answered. A
// process killed with produce requests in flight is gone only once a
// Kafka cluster has settled them (appended and replicated, or dropped),
// within its request timeout: restart its mirror after that. (Fencing
// such a zombie would take a transactional producer, which the mirror
// does not use.)
//
// A record the target refuses for good (too large, say) ends Run with
// the error; if later records of its partition were acknowledged before
// it, a new Run continues after them and the refused record is not
// copied.
//
// A Kafka source is read as its consumers read it: read_uncommitted
// (kgo's default), so records of aborted transactions are copied too. To
// copy committed records only, give the source's Config
// kgo.FetchIsolationLevel(kgo.ReadCommitted()) — but not a target's: Run
// reads the target to its high watermark, which a read_committed
// consumer stops short of while a transaction of another producer is
// open there, and a copied record it did not see would be copied again.
//
// # Throughput
//
// The source is polled a batch ahead of producing, on a goroutine of its
// own. When the target's producer is this package's Producer, records go
// straight to its kgo client, without the copy Produce makes (the
// mirror owns the polled records), and the mirror keeps within half of
// the client's buffer limits itself, so that the client never waits for
// space; other producers get each record through Produce.
//
// # Offset translation
//
// Translate maps a source group offset N (the next offset the group
// reads) to the target offset of the first copied record whose source
// offset is N or more: with the last sync point (s, d) at or before N,
// d + (N - s), capped at the next point's d; past the last copied record
// s, N = s+1 maps to d+1, as does any N up to where the running Run has
// read with only skipped records (whose origin is the target) after s;
// larger N are not translatable yet. Where the
// target holds records written by others, the result may point at those
// rather than the next copied record: a group resuming there reads them,
// and never skips or rereads a copied one.
//
// Every CheckpointInterval, and at the end of a Run (and on Checkpoint),
// for each of Groups the mirror reads the group's committed offsets on
// the source, translates those of the mirrored topics and sets them on
// the target group of the same name — only while that group has no
// members on the target, and only forward (MirrorMaker 2's
// sync.group.offsets rules). With mirrors both ways between two
// clusters, list each group in the Groups of one direction only: the one
// from the side it consumes on.
//
// A Mirror's methods are safe for concurrent use; one Run at a time.
type Mirror struct {
	cfg       MirrorConfig // defaults resolved
	syncTopic string
	logger    *slog.Logger
	topics    map[string]bool

	// crashAt, set by tests, makes Run end abruptly (as if its process
	// died: nothing flushed or committed) when it returns true for a
	// point: "produced", "acked", "synced", "resume".
	crashAt func(point string) bool

	running atomic.Bool
	table   atomic.Pointer[mirrorTable] // the current (or last) Run's
	run     atomic.Pointer[mirrorRun]   // the current Run, or nil

	records, bytes, skipped, syncs, checkpoints atomic.Int64

	lagMu   sync.Mutex
	lastLag map[commitlog.TopicPartition]int64

	swapMu  sync.Mutex
	swapped chan struct{} // closed when the table is replaced (nil: nobody waits)
	ckMu    sync.Mutex    // held by checkpointGroups
}

// MirrorStats counts what a Mirror has done since NewMirror, over all its
// Runs.
type MirrorStats struct {
	Records int64 // records copied: acknowledged by the target
	Bytes   int64 // their keys' and values' bytes
	Skipped int64 // records not copied: their origin is the target
	Syncs   int64 // sync points written to the offset-syncs topic
	// Checkpoints counts group offsets (one per group and partition)
	// set on the target.
	Checkpoints int64
	// Lag is how far behind the source's high watermark the mirror's
	// reading is, per source partition (-1: not known yet), as the
	// running (or last) Run's consumer reports it.
	Lag map[commitlog.TopicPartition]int64
}

// errCrash ends a Run at a test's fault point.
var errCrash = errors.New("commitlog: kafka: mirror: simulated crash")

// NewMirror returns a Mirror configured by cfg, without contacting either
// side (Run does). Errors: a *commitlog.ConfigError listing every problem
// of cfg: a missing or shared Name, missing clients, no Topics, a Name
// that makes an invalid topic name, a Producer configuration that fails
// Validate.
func NewMirror(cfg MirrorConfig) (*Mirror, error) {
	var p []string
	p = append(p, cfg.Source.problems("Source")...)
	p = append(p, cfg.Target.problems("Target")...)
	if cfg.Source.Name != "" && cfg.Source.Name == cfg.Target.Name {
		p = append(p, fmt.Sprintf("MirrorConfig: Source and Target are both named %q; the names tell the clusters apart (loop prevention), so they must differ", cfg.Source.Name))
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Source.Name + "-" + cfg.Target.Name
	}
	syncTopic := "mirror." + cfg.Name + ".offset-syncs"
	if err := validTopicName(syncTopic); err != nil {
		p = append(p, fmt.Sprintf("MirrorConfig.Name %q: makes the offset-syncs topic name %q: %v", cfg.Name, syncTopic, err))
	}
	if len(cfg.Topics) == 0 {
		p = append(p, "MirrorConfig.Topics: empty; name the topics to copy")
	}
	topics := map[string]bool{}
	for _, t := range cfg.Topics {
		switch {
		case t == "":
			p = append(p, "MirrorConfig.Topics: an empty name")
		case t == syncTopic:
			p = append(p, fmt.Sprintf("MirrorConfig.Topics: %q is the mirror's own offset-syncs topic", t))
		case topics[t]:
			p = append(p, fmt.Sprintf("MirrorConfig.Topics: %q twice", t))
		}
		topics[t] = true
	}
	if cfg.CheckpointInterval < 0 {
		p = append(p, "MirrorConfig.CheckpointInterval: negative")
	}
	cfg.Producer.Acks = commitlog.AckAll
	cfg.Producer.DisableIdempotence = false
	cfg.Producer.Partitioner = commitlog.ManualPartitioner()
	var ce *commitlog.ConfigError
	if err := cfg.Producer.Validate(); errors.As(err, &ce) {
		for _, q := range ce.Problems {
			p = append(p, "MirrorConfig.Producer: "+q)
		}
	}
	if err := configError(p); err != nil {
		return nil, err
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = defaultCheckpointInterval
	}
	cfg.Topics = slices.Clone(cfg.Topics)
	if cfg.Groups != nil {
		cfg.Groups = slices.Clone(cfg.Groups)
	}
	m := &Mirror{cfg: cfg, syncTopic: syncTopic, logger: cfg.Logger, topics: topics}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	return m, nil
}

// Name returns the mirror's name (MirrorConfig.Name, defaults resolved).
func (m *Mirror) Name() string { return m.cfg.Name }

// OffsetSyncsTopic returns the name of the mirror's offset-syncs topic on
// the target.
func (m *Mirror) OffsetSyncsTopic() string { return m.syncTopic }

// Stats returns the mirror's counters and lag.
func (m *Mirror) Stats() MirrorStats {
	s := MirrorStats{
		Records: m.records.Load(), Bytes: m.bytes.Load(), Skipped: m.skipped.Load(),
		Syncs: m.syncs.Load(), Checkpoints: m.checkpoints.Load(),
	}
	if r := m.run.Load(); r != nil {
		s.Lag = r.cons.Lag()
		return s
	}
	m.lagMu.Lock()
	s.Lag = maps.Clone(m.lastLag)
	m.lagMu.Unlock()
	return s
}

func (m *Mirror) saveLag(lag map[commitlog.TopicPartition]int64) {
	m.lagMu.Lock()
	m.lastLag = lag
	m.lagMu.Unlock()
}

// crash reports whether a test's fault hook wants Run to end at point.
func (m *Mirror) crash(point string) bool { return m.crashAt != nil && m.crashAt(point) }

// mirrorRun is the state of one Run.
type mirrorRun struct {
	m     *Mirror
	table *mirrorTable
	prod  commitlog.ProducerClient
	cons  commitlog.ConsumerClient // the source's
	parts map[string]int32         // partition count per topic
	pcfg  commitlog.ProducerConfig // the target producer's

	// cancelData ends the copy loop (the caller's context ending does
	// too); cancelAll ends everything, the sync goroutine included: a
	// failure or a crash.
	dataCtx    context.Context
	cancelData context.CancelFunc
	syncCtx    context.Context
	cancelAll  context.CancelFunc

	errMu   sync.Mutex
	err     error // the first failure
	crashed atomic.Bool

	syncWake   chan struct{}   // a sync point is pending
	final      chan struct{}   // closed: write the last points and stop
	checkpoint chan chan error // Checkpoint's requests
	syncDone   chan struct{}   // closed when the sync goroutine returns
	ackedFn    func(*commitlog.Record, error)

	// The direct path, when the target's producer is this package's:
	// records go to its kgo client without a copy, with a context that
	// does not end (kctx), as long as room finds the client's buffer has
	// space (tracked by inRecords and inBytes, signalled on space).
	kcl                  *kgo.Client
	kctx                 context.Context
	kackedFn             func(*kgo.Record, error)
	maxRecords, maxBytes int64
	inRecords, inBytes   atomic.Int64
	space                chan struct{}
}

// fail records err as the run's failure (the first one wins) and ends
// the run.
func (r *mirrorRun) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.cancelAll()
}

// crashNow ends the run as a crash would.
func (r *mirrorRun) crashNow() {
	r.crashed.Store(true)
	r.fail(errCrash)
}

func (r *mirrorRun) failure() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Run copies until ctx ends or a failure, and returns once every
// goroutine it started has stopped and its clients are closed. When ctx
// ends, Run flushes what it produced, writes the last sync points,
// commits its progress and translates the groups' offsets (bounded by 30
// seconds) and returns nil. A later Run, or a new Mirror of the same
// configuration after a crash, resumes exactly where the copy stopped
// (see Mirror).
//
// Errors: a *commitlog.ConfigError when a target topic has another
// partition count than its source (or the offset-syncs topic more than
// one partition); commitlog.ErrInvalidArgument when a Run is already
// running; ErrUnknownTopic for a topic missing on the source; and the
// first error the clients report that their own retries did not cure —
// a record the target's producer failed, a fetch error. Nothing
// acknowledged is lost: a new Run recomputes where to continue from the
// target.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: mirror %q: Run is already running", commitlog.ErrInvalidArgument, m.cfg.Name)
	}
	defer m.running.Store(false)
	r := &mirrorRun{
		m:          m,
		syncWake:   make(chan struct{}, 1),
		final:      make(chan struct{}),
		checkpoint: make(chan chan error),
		syncDone:   make(chan struct{}),
	}
	r.ackedFn = r.acked
	r.dataCtx, r.cancelData = context.WithCancel(ctx)
	r.syncCtx, r.cancelAll = context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(r.syncCtx, r.cancelData)
	defer stop()
	defer r.cancelAll()
	defer r.cancelData()
	err := r.run(ctx)
	if r.crashed.Load() {
		return errCrash
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil // asked to stop while starting
	}
	return err
}

func (r *mirrorRun) run(ctx context.Context) error {
	m := r.m
	if err := r.prepareTopics(ctx); err != nil {
		return err
	}
	prod, err := m.cfg.Target.NewProducer(r.pcfg)
	if err != nil {
		return fmt.Errorf("commitlog: kafka: mirror %q: target producer: %w", m.cfg.Name, err)
	}
	r.prod = prod
	var kp *Producer
	if pp, ok := prod.(*Producer); ok {
		kp = pp
	}
	if kp != nil {
		r.kcl, r.kctx, r.kackedFn = kp.cl, context.WithoutCancel(ctx), r.kacked
		r.maxRecords, r.maxBytes = max(1, kp.maxRecords/2), max(1, kp.maxBytes/2)
		r.space = make(chan struct{}, 1)
	}
	resume, err := r.resume(r.dataCtx)
	if err != nil {
		r.abort()
		if r.crashed.Load() {
			return errCrash
		}
		return err
	}
	m.setTable(r.table)
	if err := r.openSource(ctx, resume); err != nil {
		r.abort()
		return err
	}
	m.run.Store(r)
	defer m.run.CompareAndSwap(r, nil)
	go r.syncLoop()

	copyErr := r.copyLoop()
	if copyErr != nil {
		r.fail(copyErr)
	}
	if r.syncCtx.Err() != nil { // failure or crash: stop at once
		<-r.syncDone
		r.abort()
		return r.failure()
	}
	// The caller's context ended: finish properly.
	sctx, cancel := context.WithTimeout(r.syncCtx, shutdownTimeout)
	defer cancel()
	if err := r.prod.Flush(sctx); err != nil {
		r.fail(fmt.Errorf("commitlog: kafka: mirror %q: flush target producer: %w", m.cfg.Name, err))
	}
	close(r.final)
	<-r.syncDone
	if err := r.failure(); err != nil {
		r.abort()
		return err
	}
	perr := r.prod.Close()
	m.saveLag(r.cons.Lag())
	m.run.CompareAndSwap(r, nil)
	cerr := r.cons.Close()
	return errors.Join(perr, cerr)
}

// abort closes the run's clients as a crash leaves them: the producer's
// buffered records fail (those in flight finish first, so that nothing of
// this run reaches the target after Run returns), nothing is committed.
func (r *mirrorRun) abort() {
	if r.prod != nil {
		var cl *kgo.Client
		if r.prod.As(&cl) {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			_ = cl.AbortBufferedRecords(ctx)
			cancel()
		}
		_ = r.prod.Close()
	}
	if r.cons != nil {
		r.m.saveLag(r.cons.Lag())
		r.m.run.CompareAndSwap(r, nil) // Stats reads the saved lag from now on
		_ = r.cons.Close()
	}
}

// prepareTopics checks the source's topics and makes the target's.
func (r *mirrorRun) prepareTopics(ctx context.Context) error {
	m := r.m
	src, dst := m.cfg.Source.Admin, m.cfg.Target.Admin
	r.parts = map[string]int32{}
	r.pcfg = m.cfg.Producer
	var p []string
	for _, t := range m.cfg.Topics {
		sc, err := src.DescribeTopic(ctx, t)
		if err != nil {
			return fmt.Errorf("commitlog: kafka: mirror %q: source %s: %w", m.cfg.Name, m.cfg.Source.Name, err)
		}
		r.parts[t] = sc.Partitions
		tc, err := dst.DescribeTopic(ctx, t)
		switch {
		case errors.Is(err, commitlog.ErrUnknownTopic):
			if err := r.createTarget(ctx, t, sc); err != nil {
				return err
			}
			if tc, err = dst.DescribeTopic(ctx, t); err != nil {
				return fmt.Errorf("commitlog: kafka: mirror %q: target %s: %w", m.cfg.Name, m.cfg.Target.Name, err)
			}
			r.fitBatch(tc)
		case err != nil:
			return fmt.Errorf("commitlog: kafka: mirror %q: target %s: %w", m.cfg.Name, m.cfg.Target.Name, err)
		case tc.Partitions != sc.Partitions:
			p = append(p, fmt.Sprintf("mirror %q: topic %s has %d partitions on %s and %d on %s; a mirror keeps partition numbers, so they must be equal", m.cfg.Name, t, sc.Partitions, m.cfg.Source.Name, tc.Partitions, m.cfg.Target.Name))
		default:
			r.fitBatch(tc)
		}
	}
	tc, err := dst.DescribeTopic(ctx, m.syncTopic)
	switch {
	case errors.Is(err, commitlog.ErrUnknownTopic):
		err = dst.CreateTopic(ctx, m.syncTopic, commitlog.TopicConfig{Partitions: 1, Retention: commitlog.Forever})
		if err != nil && !errors.Is(err, commitlog.ErrTopicExists) {
			return fmt.Errorf("commitlog: kafka: mirror %q: create %s on %s: %w", m.cfg.Name, m.syncTopic, m.cfg.Target.Name, err)
		}
	case err != nil:
		return fmt.Errorf("commitlog: kafka: mirror %q: target %s: %w", m.cfg.Name, m.cfg.Target.Name, err)
	case tc.Partitions != 1:
		p = append(p, fmt.Sprintf("mirror %q: the offset-syncs topic %s on %s has %d partitions, not 1", m.cfg.Name, m.syncTopic, m.cfg.Target.Name, tc.Partitions))
	}
	return configError(p)
}

// fitBatch caps the producer's batches at the target topic's largest
// batch (max.message.bytes): a Log's producer does so by itself, a Kafka
// producer has its batches refused (MESSAGE_TOO_LARGE).
func (r *mirrorRun) fitBatch(tc commitlog.TopicConfig) {
	if tc.MaxBatchBytes > 0 && (r.pcfg.BatchBytes == 0 || tc.MaxBatchBytes < r.pcfg.BatchBytes) {
		r.pcfg.BatchBytes = tc.MaxBatchBytes
	}
}

// createTarget creates topic t on the target like sc, its source
// configuration: what is the source cluster's own (replicas, replication
// factor, min.insync.replicas) is left to the target's defaults, and if
// the target refuses the rest, the topic gets the partition count and
// cleanup policy only.
func (r *mirrorRun) createTarget(ctx context.Context, t string, sc commitlog.TopicConfig) error {
	m := r.m
	cfg := sc
	cfg.Replicas, cfg.ReplicationFactor, cfg.MinInSyncReplicas = nil, 0, 0
	err := m.cfg.Target.Admin.CreateTopic(ctx, t, cfg)
	if errors.Is(err, commitlog.ErrInvalidConfig) {
		m.logger.Warn("mirror: the target refused the source's topic configuration; creating the topic with its partition count and cleanup policy only",
			"mirror", m.cfg.Name, "topic", t, "err", err)
		err = m.cfg.Target.Admin.CreateTopic(ctx, t, commitlog.TopicConfig{Partitions: sc.Partitions, CleanupPolicy: sc.CleanupPolicy})
	}
	if err != nil && !errors.Is(err, commitlog.ErrTopicExists) {
		return fmt.Errorf("commitlog: kafka: mirror %q: create %s on %s: %w", m.cfg.Name, t, m.cfg.Target.Name, err)
	}
	return nil
}

// openSource opens the source's consumer on every partition, each at its
// resume point (the source's start offset when nothing was copied).
func (r *mirrorRun) openSource(ctx context.Context, resume map[commitlog.TopicPartition]int64) error {
	m := r.m
	var tps []commitlog.TopicPartition
	from := map[commitlog.TopicPartition]int64{}
	for _, t := range m.cfg.Topics {
		starts, _, err := m.cfg.Source.offsets(ctx, t, r.parts[t])
		if err != nil {
			return err
		}
		for i := range r.parts[t] {
			tp := commitlog.TopicPartition{Topic: t, Partition: i}
			tps = append(tps, tp)
			at, ok := resume[tp]
			if !ok {
				at = starts[i]
			} else if at < starts[i] {
				m.logger.Warn("mirror: records the mirror had not copied yet are gone from the source (retention)",
					"mirror", m.cfg.Name, "partition", tp, "next", at, "start", starts[i])
				at = starts[i]
			}
			from[tp] = at
		}
	}
	cons, err := m.cfg.Source.NewConsumer(commitlog.ConsumerConfig{
		Group:             m.cfg.Name,
		Partitions:        tps,
		DisableAutoCommit: true,
		AutoOffsetReset:   commitlog.ResetEarliest,
		MaxPollRecords:    mirrorPollRecords,
	})
	if err != nil {
		return fmt.Errorf("commitlog: kafka: mirror %q: source consumer: %w", m.cfg.Name, err)
	}
	r.cons = cons
	for _, tp := range tps {
		if err := cons.Seek(tp, from[tp]); err != nil {
			return fmt.Errorf("commitlog: kafka: mirror %q: seek %v: %w", m.cfg.Name, tp, err)
		}
	}
	return nil
}

// copyLoop polls the source and produces to the target until the data
// context ends (nil) or polling fails.
func (r *mirrorRun) copyLoop() error {
	m := r.m
	ctx := r.dataCtx
	source, target := m.cfg.Source.Name, m.cfg.Target.Name
	sourceVal := []byte(source)
	produced := map[commitlog.TopicPartition]int64{} // records produced per partition
	// Polling runs on a goroutine of its own, a batch ahead of producing.
	polled := make(chan []commitlog.Record, 1)
	var pollErr error
	var wg sync.WaitGroup
	defer wg.Wait()
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	wg.Go(func() {
		defer close(polled)
		for {
			recs, err := r.cons.Poll(pctx)
			if err != nil {
				if pctx.Err() == nil {
					pollErr = fmt.Errorf("commitlog: kafka: mirror %q: poll %s: %w", m.cfg.Name, source, err)
				}
				return
			}
			select {
			case polled <- recs:
			case <-pctx.Done():
				return
			}
		}
	})
	for {
		var recs []commitlog.Record
		select {
		case recs = <-polled:
		case <-ctx.Done():
			return nil
		}
		if recs == nil { // the poll goroutine stopped
			if ctx.Err() != nil {
				return nil
			}
			wg.Wait()
			return pollErr
		}
		// One allocation each for the batch's records (on the direct
		// path), headers and offsets.
		nh := 0
		for i := range recs {
			nh += len(recs[i].Headers) + 3
		}
		var hdrs []commitlog.Header
		var krs []kgo.Record
		var khdrs []kgo.RecordHeader
		if r.kcl != nil {
			krs = make([]kgo.Record, len(recs))
			khdrs = make([]kgo.RecordHeader, 0, nh)
		} else {
			hdrs = make([]commitlog.Header, 0, nh)
		}
		offs := make([]byte, 8*len(recs))
		for i := range recs {
			rec := &recs[i]
			tp := commitlog.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
			origin := header(rec, MirrorOriginHeader)
			if origin == nil {
				origin = sourceVal
			} else if string(origin) == target {
				m.skipped.Add(1)
				r.table.skipped(tp, rec.Offset, produced[tp])
				continue
			}
			off := offs[8*i : 8*i+8 : 8*i+8]
			binary.BigEndian.PutUint64(off, uint64(rec.Offset))
			produced[tp]++
			if r.kcl != nil {
				start := len(khdrs)
				size := int64(len(rec.Key) + len(rec.Value))
				for _, h := range rec.Headers {
					if !isMirrorHeader(h.Key) {
						khdrs = append(khdrs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
						size += int64(len(h.Key) + len(h.Value))
					}
				}
				khdrs = append(khdrs,
					kgo.RecordHeader{Key: MirrorOriginHeader, Value: origin},
					kgo.RecordHeader{Key: MirrorSourceHeader, Value: sourceVal},
					kgo.RecordHeader{Key: MirrorOffsetHeader, Value: off})
				size += int64(len(MirrorOriginHeader) + len(origin) + len(MirrorSourceHeader) + len(sourceVal) + len(MirrorOffsetHeader) + 8)
				kr := &krs[i] // zero: set field by field, without a temporary
				kr.Topic, kr.Partition, kr.Key, kr.Value = rec.Topic, rec.Partition, rec.Key, rec.Value
				kr.Timestamp, kr.Headers = rec.Timestamp, khdrs[start:len(khdrs):len(khdrs)]
				if !r.room(ctx, size) {
					return nil
				}
				r.kcl.Produce(r.kctx, kr, r.kackedFn)
			} else {
				start := len(hdrs)
				for _, h := range rec.Headers {
					if !isMirrorHeader(h.Key) {
						hdrs = append(hdrs, h)
					}
				}
				hdrs = append(hdrs,
					commitlog.Header{Key: MirrorOriginHeader, Value: origin},
					commitlog.Header{Key: MirrorSourceHeader, Value: sourceVal},
					commitlog.Header{Key: MirrorOffsetHeader, Value: off})
				rec.Headers = hdrs[start:len(hdrs):len(hdrs)]
				r.prod.Produce(ctx, rec, r.ackedFn)
				// A Produce cut short by ctx failed its record: none after
				// it may be produced, or the partition would have a hole.
				if ctx.Err() != nil {
					return nil
				}
			}
			if m.crash("produced") {
				r.crashNow()
				return nil
			}
		}
	}
}

func isMirrorHeader(key string) bool {
	return key == MirrorOriginHeader || key == MirrorSourceHeader || key == MirrorOffsetHeader
}

// room waits until the kgo client's buffer has room for a record of size
// bytes, so that its Produce never waits (it is given a context that does
// not end), and reserves it; false if ctx ended first. Half the client's
// limits are used, leaving the rest to the sync points.
func (r *mirrorRun) room(ctx context.Context, size int64) bool {
	for {
		n, b := r.inRecords.Load(), r.inBytes.Load()
		if n == 0 || n < r.maxRecords && b+size <= r.maxBytes {
			r.inRecords.Add(1)
			r.inBytes.Add(size)
			return true
		}
		select {
		case <-r.space:
		case <-ctx.Done():
			return false
		}
	}
}

// kacked is the kgo promise of every record copied on the direct path.
func (r *mirrorRun) kacked(kr *kgo.Record, err error) {
	size := int64(len(kr.Key) + len(kr.Value))
	for _, h := range kr.Headers {
		size += int64(len(h.Key) + len(h.Value))
	}
	r.inRecords.Add(-1)
	r.inBytes.Add(-size)
	select {
	case r.space <- struct{}{}:
	default:
	}
	h := kr.Headers[len(kr.Headers)-1]
	s := int64(binary.BigEndian.Uint64(h.Value))
	if err != nil {
		err = produceErr(&commitlog.Record{Topic: kr.Topic, Partition: kr.Partition}, err)
	}
	r.ackedAt(kr.Topic, kr.Partition, s, kr.Offset, len(kr.Key)+len(kr.Value), err)
}

// acked is the promise of every record copied through the
// ProducerClient.
func (r *mirrorRun) acked(rec *commitlog.Record, err error) {
	r.ackedAt(rec.Topic, rec.Partition, sourceOffset(rec), rec.Offset, len(rec.Key)+len(rec.Value), err)
}

// ackedAt records the outcome of the copy of source offset s to target
// offset d.
func (r *mirrorRun) ackedAt(topic string, partition int32, s, d int64, n int, err error) {
	if err != nil {
		if r.dataCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return // stopping: the record was not produced
		}
		if r.syncCtx.Err() != nil {
			return // a failure or crash is ending the run: aborted records
		}
		r.fail(fmt.Errorf("commitlog: kafka: mirror %q: copy %s-%d offset %d: %w", r.m.cfg.Name, topic, partition, s, err))
		return
	}
	r.m.records.Add(1)
	r.m.bytes.Add(int64(n))
	if r.table.advance(commitlog.TopicPartition{Topic: topic, Partition: partition}, syncPoint{s: s, d: d}) {
		select {
		case r.syncWake <- struct{}{}:
		default:
		}
	}
}

// sourceOffset returns the source offset a copied record carries in its
// last header (where copyLoop puts it).
func sourceOffset(rec *commitlog.Record) int64 {
	h := rec.Headers[len(rec.Headers)-1]
	return int64(binary.BigEndian.Uint64(h.Value))
}
