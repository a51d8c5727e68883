package histcheck

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// encodeDecode records build into a Recorder writing lines, decodes the
// lines into another Recorder with a different clock, and returns both.
func encodeDecode(t *testing.T, build func(r *Recorder, c *clock)) (direct, decoded *Recorder, lines string) {
	t.Helper()
	var buf bytes.Buffer
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	direct = NewRecorder(Config{Output: &buf, Now: c.now})
	build(direct, c)
	if err := direct.Err(); err != nil {
		t.Fatal(err)
	}
	decoded = NewRecorder(Config{Now: func() time.Time { return time.Unix(0, 0) }})
	if _, err := decoded.NewDecoder().Write(buf.Bytes()); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return direct, decoded, buf.String()
}

// TestLineRoundTrip checks that every history of the check tests, and a
// random one, gives the same result when checked from its lines.
func TestLineRoundTrip(t *testing.T) {
	cases := append(cleanCases(), anomalyCases()...)
	s := newSim(simConfig{seed: 3, events: 5000, partitions: 2, producers: 2, consumers: 2, crashEvery: 300, syncEvery: 20})
	s.run()
	cases = append(cases, checkCase{name: "random", opts: s.cfg.options(), build: func(r *Recorder, c *clock) {
		st := &replayState{sends: make([]*Send, s.t.nSends), commits: make([]*Commit, s.t.nCommits)}
		for _, op := range s.t.ops {
			op(r, st)
			c.t = st.now
		}
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			direct, decoded, lines := encodeDecode(t, tc.build)
			want, got := direct.Check(tc.opts), decoded.Check(tc.opts)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("direct:  %s\n%v\ndecoded: %s\n%v\n%s", want, want.Anomalies, got, got.Anomalies, lines)
			}
		})
	}
}

// TestLineFormat checks the lines of a few events, as documented.
func TestLineFormat(t *testing.T) {
	_, _, lines := encodeDecode(t, func(r *Recorder, c *clock) {
		r.Send("p1", p0, "a", "b c").Ok(3)
		r.Send("p 2", p1, "").OkNotDurable(0)
		r.Send("p1", p0, "x").Fail()
		r.Send("p1", p0, "y").Unknown()
		r.Poll("c1", 2, rd(p0, 3, "a"), rd(p1, 0, ""))
		r.Seek("c1", 2, p0, 1)
		r.Commit("g", p0, 4).Ok()
		r.Commit("g", p0, 5).OkNotDurable()
		r.Commit("g", p0, 6).Fail()
		r.Commit("g", p0, 7).Unknown()
		r.ResetCommit("g", p0, 2)
		c.advance(time.Second)
		r.Crash()
		r.Final(p0, 0, 5, []Read{rd(p0, 3, "a"), rd(p1, 0, "q")})
		r.FinalCommit("g", p0, 4, true)
		r.FinalCommit("g", p1, 0, false)
	})
	const t0 = "1767225600000000000"
	want := `hc send 1 p1 t 0 a "b c"
hc ok 1 3 ` + t0 + `
hc send 2 "p 2" t 1 ""
hc ok-not-durable 2 0 ` + t0 + `
hc send 3 p1 t 0 x
hc fail 3
hc send 4 p1 t 0 y
hc unknown 4
hc poll c1 2 t 0 3 a t 1 0 ""
hc seek c1 2 t 0 1
hc commit 5 g t 0 4
hc commit-ok 5
hc commit 6 g t 0 5
hc commit-ok-not-durable 6
hc commit 7 g t 0 6
hc commit-fail 7
hc commit 8 g t 0 7
hc commit-unknown 8
hc reset-commit g t 0 2
hc crash 1767225601000000000
hc final t 0 0 5 3 a * t 1 0 q
hc final-commit g t 0 4
hc final-commit g t 1 none
`
	if lines != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", lines, want)
	}
}

// TestFieldQuoting checks that any string survives a field's encoding,
// and that plain ones are written as is.
func TestFieldQuoting(t *testing.T) {
	for _, s := range []string{"plain-1", "", " ", "two words", `"quoted"`, `a"b`, "tab\there", "new\nline",
		"ünïcode", "\xff\xfe", "\x00", "-", "*", "none", `\`, "trailing "} {
		b := appendString(nil, s)
		if plain(s) != (string(b[1:]) == s) {
			t.Errorf("%q written as %s", s, b)
		}
		if bytes.ContainsAny(b, "\n\r") {
			t.Errorf("%q written with a line break: %q", s, b)
		}
		f, err := splitFields(string(appendString(append(b[1:], " x"...), s)))
		if err != nil || !slices.Equal(f, []string{s, "x", s}) {
			t.Errorf("%q: split into %q, %v", s, f, err)
		}
	}
}

// TestDecoderWrite checks that the Decoder applies complete lines across
// writes, ignores other output and drops an unterminated last line.
func TestDecoderWrite(t *testing.T) {
	r := NewRecorder(Config{})
	d := r.NewDecoder()
	stream := "=== RUN   TestChild\r\nhc send 1 p1 t 0 a b\r\nhc ok 1 0 5\nsome log line\nhc send 2 p1 t 0 c\nhc ok 2 2 6\nhc send 3 p1 t 0 d\nhc ok 3 3"
	for i := 0; i < len(stream); i += 7 { // arbitrary chunks
		if _, err := d.Write([]byte(stream[i:min(i+7, len(stream))])); err != nil {
			t.Fatal(err)
		}
	}
	if r.Acked() != 3 {
		t.Fatalf("Acked() = %d, want 3 (the cut acknowledgement of d is not applied)", r.Acked())
	}
	res := r.Check(Options{})
	if res.Sends != 3 || res.SendsOK != 2 || res.SendsUnknown != 1 {
		t.Fatalf("%s", res)
	}
}

// TestDecoderErrors checks that malformed event lines are errors naming
// the line.
func TestDecoderErrors(t *testing.T) {
	for _, line := range []string{
		"hc ",
		"hc nonsense 1",
		"hc send x p1 t 0 a",
		"hc send 1 p1 t",
		"hc send 1 p1 t 99999999999 a",
		"hc ok 1 0 5",      // unknown id
		"hc ok 7 0",        // missing time
		"hc ok 7 0 5 9",    // extra field
		"hc fail 7 0",      // extra field
		"hc send 7 p1 t 0", // id used twice
		"hc poll c1 0 t 0 1",
		"hc poll c1 x",
		"hc seek c1 0 t 0",
		"hc commit 8 g t 0",
		"hc commit-ok 9",
		"hc reset-commit g t 0 x",
		"hc crash",
		"hc final t 0 0 1 0",
		"hc final t 0 0 1 * t 1 0",
		"hc final-commit g t 0 x",
		`hc send 1 p1 t 0 "a`,
		`hc send 1 p1 t 0 "a"b`,
		"hc send 1 p1  t 0 a",
		"hc send 1 p1 t 0 a ",
	} {
		d := NewRecorder(Config{}).NewDecoder()
		if err := d.Line("hc send 7 p1 t 0 v"); err != nil {
			t.Fatal(err)
		}
		err := d.Line(line)
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: error %v", line, err)
		}
	}
}

// TestWriteOnly checks that a write-only Recorder writes lines, keeps
// nothing, and refuses to check.
func TestWriteOnly(t *testing.T) {
	var buf bytes.Buffer
	r := NewRecorder(Config{Output: &buf, WriteOnly: true})
	for i := range 1000 {
		r.Send("p1", p0, fmt.Sprint(i), fmt.Sprint(i, "b")).Ok(int64(2 * i))
	}
	if r.h != nil || r.Acked() != 2000 {
		t.Fatalf("kept %v, acked %d", r.h != nil, r.Acked())
	}
	res := r.Check(Options{})
	if k := res.Kinds(); !slices.Equal(k, []Kind{KindInvalidHistory}) || res.Err() == nil {
		t.Fatalf("%v", res.Anomalies)
	}
	parent := NewRecorder(Config{})
	if _, err := parent.NewDecoder().Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if res := parent.Check(Options{}); res.Acked != 2000 || len(res.Of(KindUnseen)) != 1 || res.Err() != nil {
		t.Fatalf("%s", res)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n++; w.n > 2 {
		return 0, fmt.Errorf("disk full")
	}
	return len(p), nil
}

// TestOutputError checks that the first write error is kept and that
// recording goes on.
func TestOutputError(t *testing.T) {
	w := &failingWriter{}
	r := NewRecorder(Config{Output: w})
	for i := range 5 {
		r.Send("p1", p0, fmt.Sprint(i)).Ok(int64(i))
	}
	if err := r.Err(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Err() = %v", err)
	}
	if w.n != 3 {
		t.Fatalf("%d writes after the error", w.n-3)
	}
	if res := r.Check(Options{}); res.Acked != 5 {
		t.Fatalf("%s", res)
	}
}

// FuzzDecoder feeds arbitrary lines to a Decoder: no panic, and a line
// that decodes re-encodes to a line that decodes to the same events.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{"hc send 1 p1 t 0 a b", "hc ok 1 0 5", `hc poll c1 0 t 0 1 "a b"`,
		"hc final t 0 0 2 0 a * u 1 1 b", "hc final-commit g t 0 none", "hc crash 5", "hc commit 2 g t 0 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var buf bytes.Buffer
		r := NewRecorder(Config{Output: &buf})
		d := r.NewDecoder()
		_ = d.Line("hc send 1 p1 t 0 a b")
		_ = d.Line("hc commit 2 g t 0 3")
		if d.Line(line) != nil {
			return
		}
		r2 := NewRecorder(Config{})
		if _, err := r2.NewDecoder().Write(buf.Bytes()); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v\n%s", line, err, buf.String())
		}
		if a, b := r.Check(Options{}), r2.Check(Options{}); !reflect.DeepEqual(a.Anomalies, b.Anomalies) {
			t.Fatalf("%q: %v, re-encoded: %v", line, a.Anomalies, b.Anomalies)
		}
	})
}
