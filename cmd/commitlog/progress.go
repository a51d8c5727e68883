package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMinBytes is the least work, in bytes, that gets a progress bar:
// smaller files are done before a bar would be seen.
const progressMinBytes = 8 << 20

// progress is a progress bar on standard error, in bytes, shown only when
// standard error is a terminal and the work is large; otherwise every
// method does nothing. It is drawn from the caller's goroutine (the bar
// has a known length, so the library starts no goroutine of its own).
type progress struct {
	bar *progressbar.ProgressBar
}

// newProgress returns a bar for total bytes of work described by desc,
// drawn on w when w is a terminal.
func newProgress(w io.Writer, total int64, desc string) *progress {
	f, ok := w.(*os.File)
	if !ok || total < progressMinBytes || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// set reports that done bytes of the work are done.
func (p *progress) set(done int64) {
	if p.bar != nil {
		_ = p.bar.Set64(done)
	}
}

// finish removes the bar.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
