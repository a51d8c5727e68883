// Package kafkacompat cross-checks internal/record and internal/compress
// against an independent implementation of Kafka's record batch format v2:
// franz-go's kmsg (github.com/twmb/franz-go/pkg/kmsg), plus independent
// gzip, xerial-snappy, lz4 and zstd readers and writers.
//
// It holds tests only. It is its own module so that franz-go never enters
// the root module's dependency graph; `go test ./...` at the root skips it.
// Run it with
//
//	cd internal/kafkacompat && go test -race ./...
package kafkacompat
