module github.com/commitlog-go/commitlog/internal/kafkacompat

go 1.25.0

require (
	github.com/commitlog-go/commitlog v0.0.0-00010101000000-000000000000
	github.com/klauspost/compress v1.20.3
	github.com/pierrec/lz4/v4 v4.1.33
	github.com/stretchr/testify v1.12.1
	github.com/twmb/franz-go/pkg/kmsg v1.14.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace github.com/commitlog-go/commitlog => ../..
