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

// checkpointSnapshot returns the last checkpoint written (tests).
func (p *Partition) checkpointSnapshot() checkpoint {
	p.syncSem <- struct{}{}
	defer func() { <-p.syncSem }()
	return p.checkpointed
}

// waitDeletions waits until the deleter has removed every segment queued
// so far (tests).
func (l *Log) waitDeletions() {
	l.delMu.Lock()
	defer l.delMu.Unlock()
	for l.delPending > 0 {
		l.delIdle.Wait()
	}
}
