package storage

import "time"

// Stats describes a partition log at one moment: the size of its data
// files and their number, when retention last looked at it (zero: not
// since Open) and how many segments it deleted since Open, and, for a
// compacted topic, the dirty ratio (what MinCleanableDirtyRatio is
// compared with) and when a compaction pass last ran (zero: not since
// Open).
type Stats struct {
	Bytes            int64
	Segments         int
	LastRetention    time.Time
	RetentionDeleted int64
	DirtyRatio       float64
	LastCleaning     time.Time
}

// Stats returns the partition log's statistics. It takes no lock that
// appends or reads wait for.
func (p *PartitionLog) Stats() Stats {
	st := Stats{RetentionDeleted: p.retentionDeleted.Load()}
	for _, s := range *p.segments.Load() {
		st.Bytes += s.size.Load()
		st.Segments++
	}
	if ms := p.lastRetention.Load(); ms != 0 {
		st.LastRetention = time.UnixMilli(ms)
	}
	if p.cfg.Compacted {
		c := p.cleanableSegments(p.cfg.Now(), false)
		st.DirtyRatio = c.dirtyRatio()
	}
	if ms := p.lastCleaning.Load(); ms != 0 {
		st.LastCleaning = time.UnixMilli(ms)
	}
	return st
}
