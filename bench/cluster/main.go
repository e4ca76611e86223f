// Command cluster is the driver of bench/cluster.sh for the journal
// figures, which need more objects than HTTP PUTs make in reasonable time
// and byte counts no process exposes. It runs real nodes (internal/node,
// with their peer HTTP servers on 127.0.0.1 and peer.Client, set up as
// cmd/objstore sets them up) in one process, with a membership it keeps
// itself, and counts the bytes of every peer connection on the server's
// side of the socket. It prints one JSON object to stdout or -out.
//
// Modes:
//
//	catchup  three nodes; c is stopped while -objects level-0 objects are
//	         put on a (in-process node PUTs, one body file each, -c at a
//	         time; b receives them as pushes); then c starts again and
//	         the time until its vector covers a's and b's is measured,
//	         with the bytes c received over the peer network meanwhile
//	idle     two clusters of two nodes, one with -small and one with
//	         -large objects in the journal, both idle for -duration:
//	         bytes on the wire per anti-entropy round in each
//
// In idle mode the objects are journal events of a synthetic origin
// injected into both nodes of a cluster through Node.Receive, as a peer's
// push would bring them (a node PUT per object would create a million
// body files): level-0 puts, held by their origin alone, so nothing
// replicates them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// options is the command line.
type options struct {
	mode     string
	dir      string
	objects  int
	conc     int
	small    int
	large    int
	duration time.Duration
	out      string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "", "`mode`: catchup or idle")
	fs.StringVar(&o.dir, "dir", "", "`directory` for the nodes' data (default a new temporary one, removed at the end)")
	fs.IntVar(&o.objects, "objects", 100_000, "`number` of objects written while a node is away (catchup)")
	fs.IntVar(&o.conc, "c", 32, "`number` of PUTs in flight at once (catchup)")
	fs.IntVar(&o.small, "small", 1_000, "`number` of objects in the journal of the reference cluster (idle)")
	fs.IntVar(&o.large, "large", 1_000_000, "`number` of objects in the journal of the large cluster (idle)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "idle time measured (idle)")
	fs.StringVar(&o.out, "out", "", "`file` for the JSON result (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.objects < 1 || o.conc < 1 || o.small < 1 || o.large < 1 || o.duration <= 0 {
		return errors.New("want -objects, -c, -small, -large ≥ 1 and -duration > 0")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "objstore-cluster-bench.")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	var res any
	var err error
	switch o.mode {
	case "catchup":
		res, err = catchUp(ctx, o)
	case "idle":
		res, err = idle(ctx, o)
	default:
		return fmt.Errorf("unknown -mode %q: want catchup or idle", o.mode)
	}
	if err != nil {
		return err
	}
	return write(o.out, res)
}

func write(path string, res any) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path != "" {
		return os.WriteFile(path, b, 0o644)
	}
	_, err = os.Stdout.Write(b)
	return err
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cluster: "+format+"\n", args...)
}
