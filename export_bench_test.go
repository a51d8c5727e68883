package commitlog

// closeTopicsWithoutSync releases every partition's files without the
// flush and checkpoint of Close, as if the process stopped (benchmarks).
func (l *Log) closeTopicsWithoutSync() {
	for _, t := range l.topics {
		for _, p := range t.partitions {
			p.shut(ErrClosed)
		}
	}
}
