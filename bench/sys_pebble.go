package main

import (
	"context"
	"encoding/binary"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleStore uses Pebble as a log: 8-byte big-endian sequence keys, one
// batch commit per batch. It has no tail API.
type pebbleStore struct {
	db    *pebble.DB
	sync  *pebble.WriteOptions
	next  atomic.Uint64
	batch *pebble.Batch
}

func openPebble(_ context.Context, dir string, o storeOptions) (store, error) {
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		return nil, err
	}
	s := &pebbleStore{db: db, sync: pebble.NoSync}
	if o.durable {
		s.sync = pebble.Sync
	}
	// Continue after the last key, as a log reopened for appending would.
	it, err := db.NewIter(nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	if it.Last() {
		s.next.Store(binary.BigEndian.Uint64(it.Key()) + 1)
	}
	if err := it.Close(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *pebbleStore) appendBatch(_ context.Context, recs []rec) error {
	if s.batch == nil {
		s.batch = s.db.NewBatch()
	}
	s.batch.Reset()
	var key [8]byte
	for _, r := range recs {
		binary.BigEndian.PutUint64(key[:], s.next.Add(1)-1)
		if err := s.batch.Set(key[:], r.value, nil); err != nil {
			return err
		}
	}
	return s.batch.Commit(s.sync)
}

func (s *pebbleStore) appendOne(_ context.Context, r rec) error {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], s.next.Add(1)-1)
	return s.db.Set(key[:], r.value, s.sync)
}

func (s *pebbleStore) flush(context.Context) error { return nil }

func (s *pebbleStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	var got int64
	for ok := it.First(); ok && got < n; ok = it.Next() {
		fn(it.Value())
		got++
	}
	return got, it.Close()
}

func (s *pebbleStore) close() error {
	if s.batch != nil {
		s.batch.Close()
	}
	return s.db.Close()
}
