package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/commitlog-go/commitlog"
)

// TemplateRecord is the value consume's --template is executed with, once
// per record:
//
//	.Topic      string
//	.Partition  int32
//	.Offset     int64
//	.Timestamp  time.Time   (use .Timestamp.UnixMilli, or ms .Timestamp)
//	.Key        string      the key's bytes; "" when null (see .KeyNull)
//	.KeyNull    bool
//	.Value      string      the value's bytes; "" when null (a tombstone)
//	.ValueNull  bool
//	.Headers    []TemplateHeader, each with .Key string and .Value string
//
// Functions besides text/template's own: json (a value as JSON), base64
// and hex (of a string's bytes), ms (a time as Unix milliseconds). The
// template's output is followed by a newline unless it ends with one.
type TemplateRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       string
	KeyNull   bool
	Value     string
	ValueNull bool
	Headers   []TemplateHeader
}

// TemplateHeader is a record header in a TemplateRecord.
type TemplateHeader struct {
	Key   string
	Value string
}

// jsonRecord is one line of consume's json format. Keys, values and
// header values are JSON strings when they are valid UTF-8, null when
// absent, and otherwise omitted in favour of a base64 field
// (key_base64, value_base64, value_base64 in a header).
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"` // Unix milliseconds
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// jsonBytes returns b as a JSON string field and its base64 fallback.
func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if !utf8.Valid(b) {
		return nil, base64.StdEncoding.EncodeToString(b)
	}
	s := string(b)
	return &s, ""
}

// formatter writes records in one of consume's output formats.
type formatter interface {
	write(w *bufio.Writer, r *commitlog.Record) error
}

// newFormatter returns the formatter for format ("raw", "json" or
// "template") with tmpl (template only) and keySep (raw only: print the
// key and keySep before the value).
func newFormatter(format, tmpl, keySep string) (formatter, error) {
	switch format {
	case "raw":
		return rawFormatter{keySep: keySep}, nil
	case "json":
		return jsonFormatter{}, nil
	case "template":
		if tmpl == "" {
			return nil, fmt.Errorf("--format template needs --template")
		}
		t, err := template.New("record").Funcs(template.FuncMap{
			"json": func(v any) (string, error) {
				b, err := json.Marshal(v)
				return string(b), err
			},
			"base64": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
			"hex":    func(s string) string { return hex.EncodeToString([]byte(s)) },
			"ms":     func(t time.Time) int64 { return t.UnixMilli() },
		}).Parse(tmpl)
		if err != nil {
			return nil, fmt.Errorf("--template: %w", err)
		}
		return templateFormatter{t: t, buf: new(bytes.Buffer)}, nil
	}
	return nil, fmt.Errorf("unknown --format %q: use raw, json or template", format)
}

type rawFormatter struct{ keySep string }

func (f rawFormatter) write(w *bufio.Writer, r *commitlog.Record) error {
	if f.keySep != "" {
		w.Write(r.Key)
		w.WriteString(f.keySep)
	}
	w.Write(r.Value)
	return w.WriteByte('\n')
}

type jsonFormatter struct{}

func (jsonFormatter) write(w *bufio.Writer, r *commitlog.Record) error {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

type templateFormatter struct {
	t   *template.Template
	buf *bytes.Buffer // one record's output
}

func (f templateFormatter) write(w *bufio.Writer, r *commitlog.Record) error {
	tr := TemplateRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		Key: string(r.Key), KeyNull: r.Key == nil, Value: string(r.Value), ValueNull: r.Value == nil,
	}
	for _, h := range r.Headers {
		tr.Headers = append(tr.Headers, TemplateHeader{Key: h.Key, Value: string(h.Value)})
	}
	f.buf.Reset()
	if err := f.t.Execute(f.buf, tr); err != nil {
		return fmt.Errorf("--template at offset %d of %s-%d: %w", r.Offset, r.Topic, r.Partition, err)
	}
	if !bytes.HasSuffix(f.buf.Bytes(), []byte("\n")) {
		f.buf.WriteByte('\n')
	}
	_, err := w.Write(f.buf.Bytes())
	return err
}
