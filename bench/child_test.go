package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBareWriteWritesTheVolumeAndKeepsItUntilRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "001")
	const volume, chunk = 10<<20 + 123, 116_000
	mbps, remove, err := bareWrite(dir, volume, chunk)
	require.NoError(t, err)
	require.Greater(t, mbps, 0.0)
	path := filepath.Join(filepath.Dir(dir), "bare-write-"+strconv.Itoa(os.Getpid()))
	fi, err := os.Stat(path)
	require.NoError(t, err, "the file stays until the caller removes it")
	require.Equal(t, int64(volume), fi.Size())
	remove()
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err))
}

func TestBareWriteAlternatesSides(t *testing.T) {
	require.False(t, bareWriteFirst(0))
	require.True(t, bareWriteFirst(1))
	require.False(t, bareWriteFirst(2))
}
