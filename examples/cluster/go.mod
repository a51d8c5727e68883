module github.com/commitlog-go/commitlog/examples/cluster

go 1.26

replace (
	github.com/commitlog-go/commitlog => ../..
	github.com/commitlog-go/commitlog/cluster => ../../cluster
)

require (
	github.com/commitlog-go/commitlog v0.0.0-00010101000000-000000000000
	github.com/commitlog-go/commitlog/cluster v0.0.0-00010101000000-000000000000
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
