package histcheck

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is the line format (see the package documentation): the
// Recorder's encoder, writing each event as it is recorded, and the
// Decoder applying lines to another Recorder.

// linePrefix starts every event line; other lines are ignored, so that a
// process's other output can share the stream.
const linePrefix = "hc "

// plain reports whether s can be written unquoted: non-empty, printable
// ASCII without spaces, not starting with a quote.
func plain(s string) bool {
	if s == "" || s[0] == '"' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func appendString(b []byte, s string) []byte {
	b = append(b, ' ')
	if plain(s) {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, s)
}

func appendInt(b []byte, n int64) []byte {
	return strconv.AppendInt(append(b, ' '), n, 10)
}

func appendPartition(b []byte, p Partition) []byte {
	return appendInt(appendString(b, p.Topic), int64(p.ID))
}

// beginLocked starts a line with op.
//
// REQUIRES: r.mu held.
func (r *Recorder) beginLocked(op string) []byte {
	return append(append(r.line[:0], "hc "...), op...)
}

// endLocked writes the line b.
//
// REQUIRES: r.mu held.
func (r *Recorder) endLocked(b []byte) {
	b = append(b, '\n')
	r.line = b
	if r.werr == nil {
		if _, err := r.cfg.Output.Write(b); err != nil {
			r.werr = err
		}
	}
}

func (r *Recorder) writeSendLocked(id int64, producer string, p Partition, values []string) {
	b := appendPartition(appendString(appendInt(r.beginLocked("send"), id), producer), p)
	for _, v := range values {
		b = appendString(b, v)
	}
	r.endLocked(b)
}

func (r *Recorder) writeCompletionLocked(id int64, st sendStatus, base, at int64) {
	b := appendInt(r.beginLocked(st.String()), id)
	if st == sendOK || st == sendOKNotDurable {
		b = appendInt(appendInt(b, base), at)
	}
	r.endLocked(b)
}

func (r *Recorder) writePollLocked(consumer string, epoch int, records []Read) {
	b := appendInt(appendString(r.beginLocked("poll"), consumer), int64(epoch))
	for _, rd := range records {
		b = appendString(appendInt(appendPartition(b, rd.Partition), rd.Offset), rd.Value)
	}
	r.endLocked(b)
}

func (r *Recorder) writeSeekLocked(consumer string, epoch int, p Partition, offset int64) {
	b := appendInt(appendString(r.beginLocked("seek"), consumer), int64(epoch))
	r.endLocked(appendInt(appendPartition(b, p), offset))
}

func (r *Recorder) writeCommitLocked(id int64, group string, p Partition, offset int64) {
	b := appendPartition(appendString(appendInt(r.beginLocked("commit"), id), group), p)
	r.endLocked(appendInt(b, offset))
}

func (r *Recorder) writeCommitCompletionLocked(id int64, st commitStatus) {
	r.endLocked(appendInt(r.beginLocked("commit-"+st.String()), id))
}

func (r *Recorder) writeResetCommitLocked(group string, p Partition, offset int64) {
	b := appendPartition(appendString(r.beginLocked("reset-commit"), group), p)
	r.endLocked(appendInt(b, offset))
}

func (r *Recorder) writeCrashLocked(at int64) {
	r.endLocked(appendInt(r.beginLocked("crash"), at))
}

func (r *Recorder) writeFinalLocked(p Partition, start, end int64, records []Read) {
	b := appendInt(appendInt(appendPartition(r.beginLocked("final"), p), start), end)
	for _, rd := range records {
		if rd.Partition != p { // "* topic id": kept for the decoding side, whose check reports it
			b = appendPartition(append(b, " *"...), rd.Partition)
		}
		b = appendString(appendInt(b, rd.Offset), rd.Value)
	}
	r.endLocked(b)
}

func (r *Recorder) writeFinalCommitLocked(group string, p Partition, offset int64, ok bool) {
	b := appendPartition(appendString(r.beginLocked("final-commit"), group), p)
	if ok {
		b = appendInt(b, offset)
	} else {
		b = appendString(b, "none")
	}
	r.endLocked(b)
}

// Decoder applies the lines written by one Recorder (through
// Config.Output) to another Recorder, as if its events had been recorded
// there: a child process writes its events to stdout, and the parent
// decodes them into the Recorder it checks. Handle ids are those of the
// writing Recorder, so use one Decoder per writer (per child process).
// A Decoder keeps a handle per send and commit it decoded, so that a
// handle completed twice is reported as it would be in the writer. It is
// not safe for concurrent use; the Recorder it applies to is.
type Decoder struct {
	r       *Recorder
	sends   map[int64]*Send
	commits map[int64]*Commit
	partial []byte // an incomplete line, from Write
	lines   int
}

// NewDecoder returns a Decoder applying lines to r.
func (r *Recorder) NewDecoder() *Decoder {
	return &Decoder{r: r, sends: map[int64]*Send{}, commits: map[int64]*Commit{}}
}

// Write applies every complete line in p, keeping an incomplete last line
// for the next Write, so that the Decoder can be a process's output
// (exec.Cmd.Stdout): a line cut short by a killed writer is never
// applied. It returns the first error, having applied the other lines
// (exec.Cmd.Wait reports it, and stops copying the process's output).
func (d *Decoder) Write(p []byte) (int, error) {
	var first error
	d.partial = append(d.partial, p...)
	rest := d.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if err := d.Line(string(rest[:i])); err != nil && first == nil {
			first = err
		}
		rest = rest[i+1:]
	}
	d.partial = append(d.partial[:0], rest...)
	return len(p), first
}

// Line applies one line, without its newline. Lines not starting with the
// event prefix "hc " are ignored. Give it only whole lines: a line cut
// short may read as another event (Write drops an unterminated last line;
// bufio.Scanner returns it).
func (d *Decoder) Line(line string) error {
	d.lines++
	line = strings.TrimSuffix(line, "\r")
	if !strings.HasPrefix(line, linePrefix) {
		return nil
	}
	f, err := splitFields(line[len(linePrefix):])
	if err == nil {
		err = d.apply(f)
	}
	if err != nil {
		if len(line) > 200 {
			line = line[:200] + "..."
		}
		return fmt.Errorf("histcheck: line %d: %w: %q", d.lines, err, line)
	}
	return nil
}

var errSyntax = errors.New("malformed event")

// splitFields splits s at single spaces, unquoting quoted fields.
func splitFields(s string) ([]string, error) {
	var out []string
	for s != "" {
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, errSyntax
			}
			v, err := strconv.Unquote(q)
			if err != nil {
				return nil, errSyntax
			}
			out = append(out, v)
			s = s[len(q):]
		} else {
			i := strings.IndexByte(s, ' ')
			if i < 0 {
				i = len(s)
			}
			if i == 0 {
				return nil, errSyntax // two spaces in a row
			}
			out = append(out, s[:i])
			s = s[i:]
		}
		if s != "" {
			if s[0] != ' ' || len(s) == 1 {
				return nil, errSyntax
			}
			s = s[1:]
		}
	}
	return out, nil
}

// fieldReader reads typed fields, keeping the first error.
type fieldReader struct {
	f   []string
	err error
}

func (fr *fieldReader) str() string {
	if len(fr.f) == 0 {
		fr.err = errSyntax
		return ""
	}
	s := fr.f[0]
	fr.f = fr.f[1:]
	return s
}

func (fr *fieldReader) int(bits int) int64 {
	s := fr.str()
	if fr.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		fr.err = errSyntax
	}
	return n
}

func (fr *fieldReader) partition() Partition {
	t := fr.str()
	return Partition{Topic: t, ID: int32(fr.int(32))}
}

// done checks that every field was read.
func (fr *fieldReader) done() error {
	if fr.err == nil && len(fr.f) > 0 {
		fr.err = errSyntax
	}
	return fr.err
}

func (d *Decoder) apply(f []string) error {
	if len(f) == 0 {
		return errSyntax
	}
	op := f[0]
	fr := &fieldReader{f: f[1:]}
	switch op {
	case "send":
		id, producer, p := fr.int(64), fr.str(), fr.partition()
		if fr.err != nil {
			return fr.err
		}
		if d.sends[id] != nil {
			return fmt.Errorf("send id %d used twice", id)
		}
		d.sends[id] = d.r.Send(producer, p, fr.f...)
		return nil
	case "ok", "ok-not-durable", "fail", "unknown":
		id := fr.int(64)
		st := map[string]sendStatus{"ok": sendOK, "ok-not-durable": sendOKNotDurable, "fail": sendFailed, "unknown": sendUnknown}[op]
		var base, at int64
		if st == sendOK || st == sendOKNotDurable {
			base, at = fr.int(64), fr.int(64)
		}
		if err := fr.done(); err != nil {
			return err
		}
		s := d.sends[id]
		if s == nil {
			return fmt.Errorf("%s of unknown send id %d", op, id)
		}
		s.complete(st, base, at, true)
		return nil
	case "poll":
		consumer, epoch := fr.str(), fr.int(strconv.IntSize)
		var records []Read
		for fr.err == nil && len(fr.f) > 0 {
			p, off := fr.partition(), fr.int(64)
			records = append(records, Read{Partition: p, Offset: off, Value: fr.str()})
		}
		if err := fr.done(); err != nil {
			return err
		}
		d.r.Poll(consumer, int(epoch), records...)
		return nil
	case "seek":
		consumer, epoch, p, off := fr.str(), fr.int(strconv.IntSize), fr.partition(), fr.int(64)
		if err := fr.done(); err != nil {
			return err
		}
		d.r.Seek(consumer, int(epoch), p, off)
		return nil
	case "commit":
		id, group, p, off := fr.int(64), fr.str(), fr.partition(), fr.int(64)
		if err := fr.done(); err != nil {
			return err
		}
		if d.commits[id] != nil {
			return fmt.Errorf("commit id %d used twice", id)
		}
		d.commits[id] = d.r.Commit(group, p, off)
		return nil
	case "commit-ok", "commit-ok-not-durable", "commit-fail", "commit-unknown":
		id := fr.int(64)
		if err := fr.done(); err != nil {
			return err
		}
		c := d.commits[id]
		if c == nil {
			return fmt.Errorf("%s of unknown commit id %d", op, id)
		}
		c.complete(map[string]commitStatus{"commit-ok": commitOK, "commit-ok-not-durable": commitOKNotDurable,
			"commit-fail": commitFailed, "commit-unknown": commitUnknown}[op])
		return nil
	case "reset-commit":
		group, p, off := fr.str(), fr.partition(), fr.int(64)
		if err := fr.done(); err != nil {
			return err
		}
		d.r.ResetCommit(group, p, off)
		return nil
	case "crash":
		at := fr.int(64)
		if err := fr.done(); err != nil {
			return err
		}
		d.r.mu.Lock()
		defer d.r.mu.Unlock()
		d.r.crashLocked(at)
		return nil
	case "final":
		p, start, end := fr.partition(), fr.int(64), fr.int(64)
		var records []Read
		for fr.err == nil && len(fr.f) > 0 {
			rd := Read{Partition: p}
			if fr.f[0] == "*" { // a record of another partition
				fr.str()
				rd.Partition = fr.partition()
			}
			rd.Offset = fr.int(64)
			rd.Value = fr.str()
			records = append(records, rd)
		}
		if err := fr.done(); err != nil {
			return err
		}
		d.r.Final(p, start, end, records)
		return nil
	case "final-commit":
		group, p, s := fr.str(), fr.partition(), fr.str()
		if err := fr.done(); err != nil {
			return err
		}
		if s == "none" {
			d.r.FinalCommit(group, p, 0, false)
			return nil
		}
		off, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errSyntax
		}
		d.r.FinalCommit(group, p, off, true)
		return nil
	}
	return fmt.Errorf("unknown event %q", op)
}
