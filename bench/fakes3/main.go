// Command fakes3 serves an in-memory S3 (gofakes3 with s3mem) on a loopback
// address, with one bucket already created, until SIGINT or SIGTERM.
//
// It is the backend of bench/run.sh: a separate process, so that objstore
// reaches it over real TCP as it would a real S3 server. It is a benchmark
// tool, not product code: gofakes3 checks no signatures and keeps every
// object in RAM.
//
//	fakes3 -addr 127.0.0.1:9000 -bucket bench
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakes3:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakes3", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "`host:port` to serve S3 on")
	bucket := fs.String("bucket", "bench", "`name` of the bucket to create")
	if err := fs.Parse(args); err != nil {
		return err
	}

	mem := s3mem.New()
	if err := mem.CreateBucket(*bucket); err != nil {
		return fmt.Errorf("create bucket %q: %w", *bucket, err)
	}
	// The time-skew check compares each request's x-amz-date with the
	// clock; on one machine it can only fail spuriously, so it is off.
	faker := gofakes3.New(mem, gofakes3.WithTimeSkewLimit(0))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "fakes3: serving bucket %q on http://%s\n", *bucket, ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
