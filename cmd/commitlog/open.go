package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/commitlog-go/commitlog"
)

// dirFlag adds the --dir flag every directory command takes.
func dirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVarP(dir, "dir", "d", "", "the Log's directory (required)")
	_ = cmd.MarkFlagRequired("dir")
}

// openMode says how a command opens the directory.
type openMode uint8

const (
	// readOnly opens an existing directory without writing to it.
	readOnly openMode = iota
	// readWrite opens an existing directory for writing.
	readWrite
	// readWriteCreate opens a directory for writing, creating it.
	readWriteCreate
)

// openLog opens the Log in dir. Recovery notices (a torn tail cut, an
// index rebuilt; in memory when read-only) go to stderr as warnings.
func openLog(dir string, mode openMode, stderr io.Writer) (*commitlog.Log, error) {
	if mode != readWriteCreate {
		fi, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("directory %s does not exist (`commitlog topics create` makes a new Log)", dir)
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", dir)
		}
	}
	opts := &commitlog.Options{
		ReadOnly: mode == readOnly,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	l, err := commitlog.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// closeLog closes l, joining its error to err.
func closeLog(l *commitlog.Log, err *error) {
	if cerr := l.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}
