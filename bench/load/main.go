// Command load is the load generator of bench/run.sh for what wrk cannot
// do: reads through objstore of keys it has never seen, signed S3 requests
// straight to the backend, and PUTs with a unique key per request. It prints
// one JSON object (see result) to stdout or -out.
//
// Modes:
//
//	seed        S3 PutObject of -count objects of -size random bytes, keys
//	            -prefix000000…, straight to the backend, -c at a time
//	miss        GET {url}/api/v1/get/{key} with X-Meta-Fetch: 1 of each seeded
//	            key once (-count of them, -c at a time, the first -skip not
//	            counted; every answer must be a MISS): the latency of a read
//	            through from the backend
//	direct-get  S3 GetObject of each seeded key once: the same read without
//	            objstore
//	miss-direct the two above in turns, request by request, so that both
//	            meet the machine in the same state: miss i of -prefix and
//	            direct GET i of -direct-prefix, the order turning with i;
//	            the misses' result goes to -out, the direct GETs' to
//	            -direct-out
//	presign     print a presigned S3 GET URL of key -prefix in -bucket at
//	            {url} (objstore's S3 API), valid for an hour
//	put         POST {url}/api/v1/put of -size bytes under a new key each
//	            time, from -c workers for -warmup then -duration
//	direct-put  S3 PutObject of the same, straight to the backend
//
// Latencies run from sending a request to reading the last byte of its
// answer. A timed mode counts only the requests that end within -duration,
// after -warmup.
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
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options is the command line.
type options struct {
	mode     string
	url      string // objstore's base URL
	endpoint string // the S3 server's base URL
	bucket   string
	region   string
	prefix   string
	dprefix  string // miss-direct: the prefix of the direct GETs' keys
	dout     string // miss-direct: the file of the direct GETs' result
	size     int
	count    int
	skip     int
	conc     int
	duration time.Duration
	warmup   time.Duration
	out      string
}

func run(ctx context.Context, args []string) error {
	var c options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.mode, "mode", "", "`mode`: seed, miss, direct-get, miss-direct, put, direct-put or presign")
	fs.StringVar(&c.url, "url", "http://127.0.0.1:10999", "objstore's base `URL` (miss, put)")
	fs.StringVar(&c.endpoint, "endpoint", "http://127.0.0.1:9000", "the S3 server's base `URL` (seed, direct-get, direct-put)")
	fs.StringVar(&c.bucket, "bucket", "bench", "S3 `bucket` (seed, direct-get, direct-put)")
	fs.StringVar(&c.region, "region", "us-east-1", "S3 `region` to sign for")
	fs.StringVar(&c.prefix, "prefix", "bench/", "key `prefix`; keys are prefix plus a number")
	fs.StringVar(&c.dprefix, "direct-prefix", "", "key `prefix` of the direct GETs (miss-direct)")
	fs.StringVar(&c.dout, "direct-out", "", "`file` for the direct GETs' JSON result (miss-direct)")
	fs.IntVar(&c.size, "size", 4096, "object size in `bytes`")
	fs.IntVar(&c.count, "count", 200, "`number` of objects (seed, miss, direct-get)")
	fs.IntVar(&c.skip, "skip", 0, "`number` of first requests that warm up and are not counted (miss, direct-get)")
	fs.IntVar(&c.conc, "c", 1, "`number` of requests in flight at once")
	fs.DurationVar(&c.duration, "duration", 8*time.Second, "measured time (put, direct-put)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time before -duration (put, direct-put)")
	fs.StringVar(&c.out, "out", "", "`file` for the JSON result (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.size < 0 || c.count < 1 || c.skip < 0 || c.skip >= c.count || c.conc < 1 || c.duration <= 0 || c.warmup < 0 {
		return errors.New("want -size ≥ 0, -count and -c ≥ 1, 0 ≤ -skip < -count, -duration > 0, -warmup ≥ 0")
	}

	var res result
	switch c.mode {
	case "seed":
		s, err := newS3(ctx, c)
		if err != nil {
			return err
		}
		res = runCount(ctx, c.conc, c.count, 0, func(ctx context.Context, i int) error {
			return s.put(ctx, key(c.prefix, i), randomBody(c.size))
		})
		if res.Errors > 0 {
			return fmt.Errorf("seed: %d of %d puts failed, the first with: %s", res.Errors, c.count, res.FirstError)
		}
	case "miss":
		o := newObjstore(c)
		res = runCount(ctx, c.conc, c.count, c.skip, func(ctx context.Context, i int) error {
			return o.getMiss(ctx, key(c.prefix, i), c.size)
		})
	case "direct-get":
		s, err := newS3(ctx, c)
		if err != nil {
			return err
		}
		res = runCount(ctx, c.conc, c.count, c.skip, func(ctx context.Context, i int) error {
			return s.get(ctx, key(c.prefix, i), c.size)
		})
	case "miss-direct":
		if c.dprefix == "" || c.dout == "" || c.out == "" {
			return errors.New("miss-direct wants -direct-prefix, -out and -direct-out")
		}
		o := newObjstore(c)
		s, err := newS3(ctx, c)
		if err != nil {
			return err
		}
		miss, direct := runPairs(ctx, c.conc, c.count, c.skip,
			func(ctx context.Context, i int) error { return o.getMiss(ctx, key(c.prefix, i), c.size) },
			func(ctx context.Context, i int) error { return s.get(ctx, key(c.dprefix, i), c.size) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		direct.Mode, direct.Size, direct.Concurrency = "direct-get", c.size, c.conc
		if err := write(c.dout, direct); err != nil {
			return err
		}
		res = miss
		c.mode = "miss"
	case "put":
		o := newObjstore(c)
		body := randomBody(c.size)
		res = runTimed(ctx, c.conc, c.warmup, c.duration, func(ctx context.Context, w, i int) error {
			return o.put(ctx, fmt.Sprintf("%s%d/%d", c.prefix, w, i), body)
		})
	case "direct-put":
		s, err := newS3(ctx, c)
		if err != nil {
			return err
		}
		body := randomBody(c.size)
		res = runTimed(ctx, c.conc, c.warmup, c.duration, func(ctx context.Context, w, i int) error {
			return s.put(ctx, fmt.Sprintf("%s%d/%d", c.prefix, w, i), body)
		})
	case "presign":
		// A presigned URL lets wrk send SigV4-signed GETs: objstore
		// verifies the signature of every one of them.
		u, err := presignGet(ctx, c, c.prefix)
		if err != nil {
			return err
		}
		_, err = fmt.Println(u)
		return err
	default:
		return fmt.Errorf("unknown -mode %q: want seed, miss, direct-get, miss-direct, put, direct-put or presign", c.mode)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.Mode, res.Size, res.Concurrency = c.mode, c.size, c.conc
	return write(c.out, res)
}

// key is the i-th key under prefix.
func key(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

func write(path string, res result) error {
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
