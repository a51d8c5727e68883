//go:build race

package record

// raceEnabled: under the race detector sync.Pool drops a share of its Puts on
// purpose, so allocation counts of pooled paths are not meaningful.
const raceEnabled = true
