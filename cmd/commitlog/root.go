package main

import (
	"io"

	"github.com/spf13/cobra"
)

// env is what every command reads and writes besides its flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "commitlog",
		Short: "Inspect and administer a commitlog directory offline",
		Long: `commitlog works on the directory of a commitlog Log (Apache Kafka's
partitioned commit log as an embeddable Go library), without the
application that uses it: topics, producing and consuming records,
consumer groups, statistics, and the segment files themselves.

Every command that works on a directory takes it with --dir (-d). The
directory's lock is honoured: while another process has it open, a
command fails with exit status 3. Commands that only read open the
directory read-only and change no file; topics create and delete,
produce, consume --group and groups reset-offsets --execute open it
read-write.

Exit status:
  0  success
  1  an error: bad usage, an unknown topic or group, an I/O error
  2  corruption found (verify, dump, or a read that met it)
  3  the directory is locked by another process
  4  a read-only open found an interrupted operation that only a
     read-write open completes (open the directory read-write once)`,
		Example: `  commitlog topics create -d /var/lib/app/log orders --partitions 4
  printf 'k1:hello\nk2:world\n' | commitlog produce -d /var/lib/app/log orders -K :
  commitlog consume -d /var/lib/app/log orders --format json
  commitlog groups lag -d /var/lib/app/log billing
  commitlog verify -d /var/lib/app/log
  commitlog dump /var/lib/app/log/orders-0/00000000000000000000.log --records`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newTopicsCommand(e),
		newProduceCommand(e),
		newConsumeCommand(e),
		newGroupsCommand(e),
		newStatsCommand(e),
		newDumpCommand(e),
		newVerifyCommand(e),
	)
	return root
}
