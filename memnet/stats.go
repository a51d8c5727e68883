package memnet

// Counters count what became of the messages sent. Every message sent
// ends, with each of its duplicates, in exactly one of Delivered and the
// Dropped counters, or is still in flight (InFlight).
type Counters struct {
	// Sent counts the messages Send accepted (returned nil for).
	Sent uint64
	// Delivered counts the calls of deliver functions, duplicates
	// included.
	Delivered uint64
	// DroppedByFault counts the messages lost to Faults.Drop.
	DroppedByFault uint64
	// DroppedByPartition counts the messages and duplicates lost to a cut
	// link (Block, Partition, Isolate): cut when sent or when due.
	DroppedByPartition uint64
	// DroppedUnreachable counts the messages and duplicates lost because
	// their receiver was not listening: when sent, or when its listener
	// stopped (or the Network closed) before they fell due.
	DroppedUnreachable uint64
	// Duplicated counts the duplicates made (Faults.Duplicate).
	Duplicated uint64
	// Reordered counts the messages held back (Faults.Reorder).
	Reordered uint64
}

// InFlight returns how many messages and duplicates are on their way:
// neither delivered nor dropped yet.
func (c Counters) InFlight() uint64 {
	return c.Sent + c.Duplicated - c.Delivered - c.DroppedByFault - c.DroppedByPartition - c.DroppedUnreachable
}

// Stats are a Network's Counters, in total and for each link over which
// a message was sent.
type Stats struct {
	Counters
	// Links has the Counters of every link over which a message was sent.
	Links map[Link]Counters
}

// Stats returns the Network's counters so far. The returned Stats, Links
// included, are the caller's.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{Counters: n.total, Links: make(map[Link]Counters, len(n.links))}
	for l, ls := range n.links {
		if ls.counters != (Counters{}) {
			s.Links[l] = ls.counters
		}
	}
	return s
}

// The counters Network.count adds to.

func sentCount(c *Counters) *uint64               { return &c.Sent }
func deliveredCount(c *Counters) *uint64          { return &c.Delivered }
func droppedByFaultCount(c *Counters) *uint64     { return &c.DroppedByFault }
func droppedByPartitionCount(c *Counters) *uint64 { return &c.DroppedByPartition }
func droppedUnreachableCount(c *Counters) *uint64 { return &c.DroppedUnreachable }
func duplicatedCount(c *Counters) *uint64         { return &c.Duplicated }
func reorderedCount(c *Counters) *uint64          { return &c.Reordered }
