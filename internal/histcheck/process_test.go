package histcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// This file runs the multi-process protocol of the package documentation
// for real: a child process appends records to a file (a one-partition
// log: one record per line, fsynced before the acknowledgement) and
// writes its events to stdout through a write-only Recorder; the parent
// decodes them, kills the child, records the crash and the file's
// contents as the final read, and starts the next child.

const childEnv = "HISTCHECK_CHILD"

// TestProcessKill is the parent.
func TestProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	path := filepath.Join(t.TempDir(), "log")
	rec := NewRecorder(Config{})
	p := Partition{Topic: "file", ID: 0}
	for cycle := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessChild$")
		cmd.Env = append(os.Environ(), childEnv+"="+path, fmt.Sprintf("HISTCHECK_CYCLE=%d", cycle))
		killed := make(chan struct{})
		out := &ackWatcher{d: rec.NewDecoder(), r: rec, at: rec.Acked() + 50 + 30*cycle, reached: killed}
		cmd.Stdout = out
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		<-killed
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatal("the child exited by itself")
		} else if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err) // a decoding error
		}
		rec.Crash() // after Wait: all of the child's output is applied
		lines := readLines(t, path)
		reads := make([]Read, len(lines))
		for i, v := range lines {
			reads[i] = Read{Partition: p, Offset: int64(i), Value: v}
		}
		rec.Final(p, 0, int64(len(reads)), reads)
	}
	res := rec.Check(Options{DurableReads: true, RequireSeen: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if res.Crashes != 5 || res.Acked < 5*50 {
		t.Fatalf("%s", res)
	}
	t.Log(res)
}

// ackWatcher passes a child's output to a Decoder and closes reached once
// the Recorder has at acknowledged records.
type ackWatcher struct {
	d       *Decoder
	r       *Recorder
	at      int
	once    sync.Once
	reached chan struct{}
}

func (w *ackWatcher) Write(p []byte) (int, error) {
	n, err := w.d.Write(p)
	if w.r.Acked() >= w.at {
		w.once.Do(func() { close(w.reached) })
	}
	return n, err
}

// readLines returns the complete lines of the file at path: a torn last
// line is what recovery cuts.
func readLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestProcessChild is the child: it recovers the file (cutting a torn
// last line), then appends, polls and records until it is killed.
func TestProcessChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		return // run by TestProcessKill only
	}
	cycle, _ := strconv.Atoi(os.Getenv("HISTCHECK_CYCLE"))
	lines := readLines(t, path)
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(int64(size), 0); err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(Config{Output: os.Stdout, WriteOnly: true})
	p := Partition{Topic: "file", ID: 0}
	consumer := fmt.Sprint("c", cycle)
	for i := 0; ; i++ {
		v := fmt.Sprintf("c%d-%d", cycle, i)
		s := rec.Send("w", p, v)
		if _, err := f.WriteString(v + "\n"); err != nil {
			s.Unknown()
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			s.Unknown()
			t.Fatal(err)
		}
		s.Ok(int64(len(lines)))
		lines = append(lines, v)
		if i%10 == 9 { // read back the last ten
			var reads []Read
			for o := len(lines) - 10; o < len(lines); o++ {
				reads = append(reads, Read{Partition: p, Offset: int64(o), Value: lines[o]})
			}
			rec.Poll(consumer, 0, reads...)
		}
	}
}
