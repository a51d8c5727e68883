package alloctest

import (
	"fmt"
	"testing"
)

var sink []byte

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestMeasures(t *testing.T) {
	const n = 1 << 20
	alloc := func() { sink = make([]byte, n) }
	if got := Bytes(alloc); got < n {
		t.Errorf("Bytes: %d, want at least %d", got, n)
	}
	if got := Precise(alloc); got < n || got > n+Slack {
		t.Errorf("Precise: %d, want %d to %d", got, n, n+Slack)
	}
	// Small objects too, once flushed from the caches.
	small := func() {
		for range 1000 {
			sink = make([]byte, 64)
		}
	}
	if got := Precise(small); got < 64*1000 || got > 64*1000+Slack {
		t.Errorf("Precise over small objects: %d, want about %d", got, 64*1000)
	}
}

func TestCheck(t *testing.T) {
	setups := 0
	r := &recorder{TB: t}
	Check(r, 1<<20, func() { setups++ }, func() { sink = make([]byte, 1<<20) })
	if r.failed != "" || setups != 1 {
		t.Errorf("within the bound: failure %q, %d setups", r.failed, setups)
	}
	setups = 0
	Check(r, 1<<19, func() { setups++ }, func() { sink = make([]byte, 1<<20) })
	if r.failed == "" || setups != 1+preciseRuns {
		t.Errorf("over the bound: failure %q, %d setups; want a failure after %d precise runs", r.failed, setups, preciseRuns)
	}
	// An excess in the first measurement only is not a failure.
	r.failed, setups = "", 0
	Check(r, 1<<19, func() { setups++ }, func() {
		if setups == 1 {
			sink = make([]byte, 1<<20)
		}
	})
	if r.failed != "" || setups != 2 {
		t.Errorf("over the bound once: failure %q, %d setups; want a pass after one precise run", r.failed, setups)
	}
	r.failed = ""
	Check(r, 0, nil, func() {})
	if r.failed != "" {
		t.Errorf("nothing allocated: failure %q", r.failed)
	}
}
