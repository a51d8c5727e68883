package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestOnce runs the service in -once mode: it must serve, scrape itself
// and print the shown families with the group's first commit counted,
// then return with every goroutine stopped.
func TestOnce(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-once", "-duration", "30s"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "serving http://127.0.0.1:") {
		t.Errorf("output does not start with the address:\n%s", s)
	}
	for _, name := range shown {
		if !strings.Contains(s, "\n"+name) {
			t.Errorf("output lacks %s:\n%s", name, s)
		}
	}
	if strings.Contains(s, `commitlog_group_commits_total{group="readers"} 0`) {
		t.Errorf("-once scraped before the first commit:\n%s", s)
	}
	if !strings.Contains(s, `commitlog_group_rebalances_total{group="readers",reason="join"} 1`) {
		t.Errorf("the group's join is not counted:\n%s", s)
	}
}
