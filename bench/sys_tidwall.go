package main

import (
	"context"
	"sync"

	"github.com/tidwall/wal"
)

// tidwallStore uses tidwall/wal: entries addressed by a contiguous index,
// written in batches; it has no keys and no tail API.
type tidwallStore struct {
	log   *wal.Log
	mu    sync.Mutex // serialises appendOne: the next index and the write go together
	next  uint64
	batch wal.Batch
}

func openTidwall(_ context.Context, dir string, o storeOptions) (store, error) {
	opts := *wal.DefaultOptions
	opts.NoSync = !o.durable
	opts.NoCopy = true // reads return the segment's bytes: the fastest read it has
	l, err := wal.Open(dir, &opts)
	if err != nil {
		return nil, err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return nil, err
	}
	return &tidwallStore{log: l, next: last + 1}, nil
}

func (s *tidwallStore) appendBatch(_ context.Context, recs []rec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.Clear()
	for _, r := range recs {
		s.batch.Write(s.next, r.value)
		s.next++
	}
	if err := s.log.WriteBatch(&s.batch); err != nil {
		s.next -= uint64(len(recs))
		return err
	}
	return nil
}

func (s *tidwallStore) appendOne(_ context.Context, r rec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.log.Write(s.next, r.value); err != nil {
		return err
	}
	s.next++
	return nil
}

func (s *tidwallStore) flush(context.Context) error { return nil }

func (s *tidwallStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	first, err := s.log.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := s.log.LastIndex()
	if err != nil || first == 0 {
		return 0, err
	}
	var got int64
	for i := first; i <= last && got < n; i++ {
		v, err := s.log.Read(i)
		if err != nil {
			return got, err
		}
		fn(v)
		got++
	}
	return got, nil
}

func (s *tidwallStore) close() error { return s.log.Close() }
