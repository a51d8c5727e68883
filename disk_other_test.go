//go:build !unix

package commitlog

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// diskBytes returns the file's size: these platforms report no block
// counts, and the Log reserves no space on them.
func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}
