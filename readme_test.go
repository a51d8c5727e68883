package commitlog_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/commitlog-go/commitlog"
	"github.com/stretchr/testify/require"
)

// TestREADMEConfigurationTables keeps the README's configuration tables
// whole: each lists every exported field of its struct, in the struct's
// order, with a unit, a default and a description, and nothing else.
func TestREADMEConfigurationTables(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, typ := range []reflect.Type{
		reflect.TypeFor[commitlog.Options](),
		reflect.TypeFor[commitlog.TopicConfig](),
		reflect.TypeFor[commitlog.ProducerConfig](),
		reflect.TypeFor[commitlog.ConsumerConfig](),
	} {
		t.Run(typ.Name(), func(t *testing.T) {
			var want []string
			for i := range typ.NumField() {
				if f := typ.Field(i); f.IsExported() {
					want = append(want, f.Name)
				}
			}
			rows := readmeTable(t, string(readme), "### `"+typ.Name()+"`")
			var got []string
			for _, row := range rows {
				require.Len(t, row, 4, "row %v: field, unit, default, what", row)
				for i, cell := range row {
					require.NotEmpty(t, strings.TrimSpace(cell), "row %v, column %d", row, i+1)
				}
				got = append(got, strings.Trim(row[0], "` "))
			}
			require.Equal(t, want, got, "the README's table of %s", typ.Name())
		})
	}
}

// readmeTable returns the cells of the body rows of the first table
// after the heading that starts with heading.
func readmeTable(t *testing.T, readme, heading string) [][]string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading)
	require.GreaterOrEqual(t, i, 0, "no heading %q in README.md", heading)
	lines := strings.Split(readme[i+1:], "\n")
	sep := regexp.MustCompile(`^\|(\s*-+\s*\|)+$`)
	var rows [][]string
	inTable := false
	for _, line := range lines[1:] {
		switch {
		case strings.HasPrefix(line, "|") && !inTable:
			inTable = true // the header row
		case inTable && sep.MatchString(line):
		case inTable && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			rows = append(rows, cells)
		case inTable:
			return rows
		case strings.HasPrefix(line, "#"):
			require.Fail(t, "no table under "+heading)
		}
	}
	return rows
}
