// Package helper is what runs in the helper container of a Kubernetes job's
// pod: the slipway binary itself (`slipway kube-helper ...`), so that no
// tool is needed in the job's image nor any image pulled from outside. It
// waits while the job runs, unpacks the working copy the executor streams
// in, and packs it again to stream it out. The executor uses the same tar
// code on its side.
package helper

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command is the slipway subcommand that runs Main.
const Command = "kube-helper"

// Main runs one helper command and returns the process's exit code:
//
//	pause       wait until SIGTERM or SIGINT (the container's main process)
//	untar DIR   unpack the tar stream on stdin into DIR
//	tar DIR     write DIR as a tar stream to stdout
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(args, stdin, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "slipway %s: %v\n", Command, err)
		return 1
	}
	return 0
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("want pause, untar DIR or tar DIR")
	}
	switch {
	case args[0] == "pause" && len(args) == 1:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		<-ctx.Done()
		return nil
	case args[0] == "untar" && len(args) == 2:
		if err := os.MkdirAll(args[1], 0o755); err != nil {
			return err
		}
		return Extract(stdin, args[1])
	case args[0] == "tar" && len(args) == 2:
		return WriteTar(stdout, args[1], "", nil)
	}
	return fmt.Errorf("%q: want pause, untar DIR or tar DIR", args)
}
