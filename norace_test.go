//go:build !race

package commitlog

// raceEnabled reports a -race build, where sync.Pool drops objects at
// random and allocation counts are not those of a normal build.
const raceEnabled = false
