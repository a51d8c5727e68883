//go:build unix

package commitlog

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// diskBytes returns the space the file at path occupies on disk.
func diskBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(path, &st))
	return st.Blocks * 512
}
