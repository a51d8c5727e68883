package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/commitlog-go/commitlog"
)

// Exit statuses (documented in the package comment and the root help).
const (
	exitOK       = 0
	exitError    = 1
	exitCorrupt  = 2
	exitLocked   = 3
	exitReadOnly = 4
)

// statusError carries an exit status other than exitError for an error
// already reported (verify and dump print their findings, then fail with
// it).
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// describeError returns the exit status for err and the message to print,
// without the library's "commitlog: " prefix (run adds its own).
func describeError(err error) (int, string) {
	code, msg := classify(err)
	return code, strings.TrimPrefix(msg, "commitlog: ")
}

func classify(err error) (int, string) {
	var se *statusError
	var ce *commitlog.CorruptionError
	switch {
	case errors.As(err, &se):
		return se.code, se.msg
	case errors.Is(err, commitlog.ErrLocked):
		return exitLocked, fmt.Sprintf("%v\nanother process has the directory open (an application using the library, or another commitlog command); stop it, or wait until it closes the directory", err)
	case errors.As(err, &ce):
		return exitCorrupt, fmt.Sprintf("%v\nrun `commitlog verify --dir DIR` to list every problem, and `commitlog dump FILE` to look at the file", err)
	case errors.Is(err, commitlog.ErrCorrupt):
		return exitCorrupt, err.Error()
	case errors.Is(err, commitlog.ErrReadOnly):
		return exitReadOnly, err.Error()
	}
	return exitError, err.Error()
}
