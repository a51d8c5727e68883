package main

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var bboltBucket = []byte("log")

// bboltStore uses bbolt as a log: 8-byte big-endian sequence keys in one
// bucket filled to 100% (the setting for sequential keys), one read-write
// transaction per batch; concurrent single appends go through DB.Batch,
// bbolt's own group commit. Reads are zero-copy from the memory map. It
// has no tail API.
type bboltStore struct {
	db *bolt.DB
}

func openBbolt(_ context.Context, dir string, o storeOptions) (store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "log.db"), 0o600, &bolt.Options{
		NoSync:         !o.durable,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &bboltStore{db: db}, nil
}

// logBucket returns the bucket, set up for sequential keys.
func logBucket(tx *bolt.Tx) *bolt.Bucket {
	b := tx.Bucket(bboltBucket)
	b.FillPercent = 1.0
	return b
}

// putNext stores v under the bucket's next sequence number.
func putNext(b *bolt.Bucket, v []byte) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], seq)
	return b.Put(key[:], v)
}

func (s *bboltStore) appendBatch(_ context.Context, recs []rec) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := logBucket(tx)
		for _, r := range recs {
			if err := putNext(b, r.value); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *bboltStore) appendOne(_ context.Context, r rec) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return putNext(logBucket(tx), r.value) })
}

func (s *bboltStore) flush(context.Context) error { return nil }

func (s *bboltStore) read(ctx context.Context, n int64, fn func([]byte)) (int64, error) {
	var got int64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, v := c.First(); k != nil && got < n; k, v = c.Next() {
			fn(v)
			got++
		}
		return nil
	})
	return got, err
}

func (s *bboltStore) close() error { return s.db.Close() }
