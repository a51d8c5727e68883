// Command commitlog inspects and administers a commitlog directory offline:
// topics, producing and consuming records, consumer groups, statistics, and
// the segment files themselves (dump, verify).
//
// Install it with
//
//	go install github.com/commitlog-go/commitlog/cmd/commitlog@latest
//
// Every command that works on a directory takes it with --dir (-d). The
// directory is opened through the library, which takes its lock: while
// another process (an application, or another commitlog command) has it
// open, commands fail with exit status 3 and say so. Commands that only
// read open it read-only and change no file; those that write (topics
// create and delete, produce, consume as a group member, groups
// reset-offsets --execute) open it read-write.
//
// Exit status: 0 success; 1 an error (bad usage, a missing topic, an I/O
// error); 2 corruption found (verify, dump, or a read that met it); 3 the
// directory is locked by another process; 4 a read-only open found an
// interrupted operation that only a read-write open completes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status. ctx ends
// on an interrupt: commands that wait (consume --follow) stop then.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, msg := describeError(err)
	fmt.Fprintln(stderr, "commitlog: "+msg)
	return code
}
