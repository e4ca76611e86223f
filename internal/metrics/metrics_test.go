package metrics

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scrape fetches m's /metrics through a real HTTP server and returns the
// exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

// wantLines fails unless every line of want appears as a whole line of text.
func wantLines(t *testing.T, text string, want ...string) {
	t.Helper()
	have := make(map[string]bool)
	for _, l := range strings.Split(text, "\n") {
		have[l] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("missing line %q", w)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", text)
	}
}

// waitLines scrapes m until every line of want appears, failing after a
// deadline. Instrument records after the handler returns, which can be
// after the client has read a response with a known length.
func waitLines(t *testing.T, m *Metrics, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		text := scrape(t, m)
		missing := false
		for _, w := range want {
			if !strings.Contains("\n"+text, "\n"+w+"\n") {
				missing = true
				break
			}
		}
		if !missing || time.Now().After(deadline) {
			wantLines(t, text, want...)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHandlerIncludesRuntimeMetrics(t *testing.T) {
	text := scrape(t, New(nil))
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes"} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("no %s in scrape", name)
		}
	}
}

func TestObserveRequest(t *testing.T) {
	m := New(nil)
	m.ObserveRequest("s3", "get", 200, 30*time.Microsecond)
	m.ObserveRequest("s3", "get", 200, 2*time.Millisecond)
	m.ObserveRequest("s3", "get", 404, time.Millisecond)
	m.ObserveRequest("compat", "put", 201, 20*time.Second)

	wantLines(t, scrape(t, m),
		`objstore_http_requests_total{api="s3",op="get",status="200"} 2`,
		`objstore_http_requests_total{api="s3",op="get",status="404"} 1`,
		`objstore_http_requests_total{api="compat",op="put",status="201"} 1`,
		`objstore_http_request_duration_seconds_bucket{api="s3",op="get",le="5e-05"} 1`,
		`objstore_http_request_duration_seconds_bucket{api="s3",op="get",le="0.001"} 2`,
		`objstore_http_request_duration_seconds_bucket{api="s3",op="get",le="10"} 3`,
		`objstore_http_request_duration_seconds_count{api="s3",op="get"} 3`,
		`objstore_http_request_duration_seconds_bucket{api="compat",op="put",le="10"} 0`,
		`objstore_http_request_duration_seconds_bucket{api="compat",op="put",le="+Inf"} 1`,
	)
}

func TestInstrumentRecordsStatus(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    int
	}{
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, 200},
		{"body only", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }, 200},
		{"explicit 201", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) }, 201},
		{"http.Error 404", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no such key", http.StatusNotFound)
		}, 404},
		{"second WriteHeader ignored", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			w.WriteHeader(200) // net/http logs "superfluous" and keeps 503
		}, 503},
		{"early hints then 206", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusPartialContent)
		}, 206},
		{"flush before body", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			io.WriteString(w, "x")
		}, 200},
		{"ReadFrom before header", func(w http.ResponseWriter, _ *http.Request) {
			w.(io.ReaderFrom).ReadFrom(strings.NewReader("x"))
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(nil)
			srv := httptest.NewUnstartedServer(m.Instrument("compat", "get", tt.handler))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // "superfluous WriteHeader" is expected
			srv.Start()
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("client saw status %d, want %d", resp.StatusCode, tt.want)
			}
			waitLines(t, m,
				`objstore_http_requests_total{api="compat",op="get",status="`+strconv.Itoa(tt.want)+`"} 1`,
				`objstore_http_request_duration_seconds_count{api="compat",op="get"} 1`,
			)
		})
	}
}

// readerFromRecorder is a ResponseWriter that, like net/http's, implements
// io.ReaderFrom, and records what ReadFrom was handed.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	got io.Reader
}

func (r *readerFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.got = src
	return io.Copy(r.ResponseRecorder, src)
}

func TestInstrumentKeepsReaderFrom(t *testing.T) {
	m := New(nil)
	var inner http.ResponseWriter
	h := m.Instrument("compat", "get", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		inner = w
		// Hide strings.Reader's WriteTo, which io.Copy would prefer.
		io.Copy(w, struct{ io.Reader }{strings.NewReader("body")})
	}))
	rec := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/k", nil))

	if _, ok := inner.(io.ReaderFrom); !ok {
		t.Fatalf("%T handed to the handler does not implement io.ReaderFrom", inner)
	}
	if rec.got == nil {
		t.Fatal("io.Copy did not reach the underlying writer's ReadFrom")
	}
	if got := rec.Body.String(); got != "body" {
		t.Fatalf("body = %q, want %q", got, "body")
	}
	if u, ok := inner.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != rec {
		t.Fatalf("Unwrap does not return the underlying writer")
	}
}

func TestInstrumentReadFromWithoutUnderlyingReaderFrom(t *testing.T) {
	m := New(nil)
	h := m.Instrument("compat", "get", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		io.Copy(w, strings.NewReader("plain"))
	}))
	rec := httptest.NewRecorder() // no ReadFrom
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/k", nil))
	if rec.Code != http.StatusAccepted || rec.Body.String() != "plain" {
		t.Fatalf("got %d %q, want 202 %q", rec.Code, rec.Body.String(), "plain")
	}
	wantLines(t, scrape(t, m), `objstore_http_requests_total{api="compat",op="get",status="202"} 1`) // ServeHTTP has returned
}

// TestInstrumentServeContentFile serves an *os.File through
// http.ServeContent behind Instrument, as the node does for cached bodies,
// and checks that the file reaches ReadFrom (net/http's sendfile path) as
// a LimitedReader of the *os.File, whole and in ranges.
func TestInstrumentServeContentFile(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	m := New(nil)
	var sawFile atomic.Bool
	serve := m.Instrument("compat", "get", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "body", time.Time{}, f)
	}))
	// Between Instrument and net/http's writer, a probe notes whether
	// ReadFrom was handed the file, then passes it on unchanged.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve.ServeHTTP(&fileProbe{ResponseWriter: w, saw: &sawFile}, r)
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		rangeHdr   string
		wantStatus int
		want       []byte
	}{
		{"whole", "", http.StatusOK, content},
		{"range", "bytes=100-199", http.StatusPartialContent, content[100:200]},
		{"unsatisfiable", "bytes=999999-", http.StatusRequestedRangeNotSatisfiable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sawFile.Store(false)
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if tt.rangeHdr != "" {
				req.Header.Set("Range", tt.rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.want != nil {
				if !bytes.Equal(body, tt.want) {
					t.Fatalf("body: %d bytes, want %d bytes", len(body), len(tt.want))
				}
				if !sawFile.Load() {
					t.Fatal("ReadFrom of the underlying writer was not handed the *os.File")
				}
			}
		})
	}
	waitLines(t, m,
		`objstore_http_requests_total{api="compat",op="get",status="200"} 1`,
		`objstore_http_requests_total{api="compat",op="get",status="206"} 1`,
		`objstore_http_requests_total{api="compat",op="get",status="416"} 1`,
	)
}

// fileProbe passes everything through to net/http's writer and records
// whether ReadFrom received an *os.File (directly or as a LimitedReader),
// which is what net/http needs to use sendfile.
type fileProbe struct {
	http.ResponseWriter
	saw *atomic.Bool
}

func (p *fileProbe) ReadFrom(r io.Reader) (int64, error) {
	src := r
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	if _, ok := src.(*os.File); ok {
		p.saw.Store(true)
	}
	return p.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
}

func TestWatchNode(t *testing.T) {
	m := New(nil)
	var calls atomic.Int64
	m.WatchNode(func() Snapshot {
		calls.Add(1)
		return Snapshot{
			Hits: 10, Misses: 3, Revalidations: 4, StaleServed: 1, CoalescedMisses: 2,
			BytesServed:     map[string]uint64{"local": 1000, "backend": 200},
			BackendRequests: map[string]uint64{"get": 3, "head": 4, "list": 1},
			BackendErrors:   map[string]uint64{"get": 1},
			Evictions:       5, EvictedBytes: 5000,
			Objects: 7, BytesCached: 7000, Capacity: 1 << 30, LogSegments: 3, LogBytes: 99000,
			UploadQueueLength: 2, UploadQueueOldest: 1500 * time.Millisecond,
			UploadsDone: 9, UploadRetries: 6,
			Cluster: ClusterSnapshot{
				Members:         map[string]int{"alive": 3, "dead": 1},
				StreamsReceived: 11, EventsApplied: 12, EventsPushed: 13, PushBytes: 14, PushFailures: 15,
				SyncRounds: 16, SyncBytes: 17, DeltasServed: 18, TombstonesCompacted: 19, EventsStored: 20,
				PeerReads:  map[string]uint64{"holder_ok": 21, "owner_failed": 22},
				Replicated: 23, ReplicationFailed: 24, ReplicationDropped: 25, ReplicationQueue: 26, BytesServedToPeers: 27,
			},
		}
	})
	text := scrape(t, m)
	if calls.Load() != 1 {
		t.Errorf("snapshot called %d times on one scrape, want 1", calls.Load())
	}
	wantLines(t, text,
		`# TYPE objstore_cache_hits_total counter`,
		`objstore_cache_hits_total 10`,
		`objstore_cache_misses_total 3`,
		`objstore_cache_revalidations_total 4`,
		`objstore_cache_stale_served_total 1`,
		`objstore_backend_gets_saved_total 2`,
		`objstore_served_bytes_total{source="local"} 1000`,
		`objstore_served_bytes_total{source="backend"} 200`,
		`objstore_served_bytes_total{source="peer"} 0`,
		`objstore_backend_requests_total{op="get"} 3`,
		`objstore_backend_requests_total{op="head"} 4`,
		`objstore_backend_requests_total{op="put"} 0`,
		`objstore_backend_requests_total{op="delete"} 0`,
		`objstore_backend_requests_total{op="list"} 1`,
		`objstore_backend_errors_total{op="get"} 1`,
		`objstore_backend_errors_total{op="put"} 0`,
		`objstore_evictions_total 5`,
		`objstore_evicted_bytes_total 5000`,
		`# TYPE objstore_cache_objects gauge`,
		`objstore_cache_objects 7`,
		`objstore_cache_bytes 7000`,
		`objstore_cache_capacity_bytes 1.073741824e+09`,
		`objstore_index_log_segments 3`,
		`objstore_index_log_bytes 99000`,
		`objstore_upload_queue_length 2`,
		`objstore_upload_queue_oldest_seconds 1.5`,
		`objstore_uploads_total 9`,
		`objstore_upload_retries_total 6`,
		`objstore_cluster_members{state="alive"} 3`,
		`objstore_cluster_members{state="dead"} 1`,
		`objstore_cluster_members{state="suspect"} 0`,
		`objstore_journal_streams_received_total 11`,
		`objstore_journal_events_applied_total 12`,
		`objstore_journal_events_pushed_total 13`,
		`objstore_journal_push_bytes_total 14`,
		`objstore_journal_push_failures_total 15`,
		`objstore_antientropy_rounds_total 16`,
		`objstore_antientropy_received_bytes_total 17`,
		`objstore_antientropy_deltas_served_total 18`,
		`objstore_journal_tombstones_compacted_total 19`,
		`objstore_journal_events 20`,
		`objstore_peer_reads_total{outcome="holder_ok"} 21`,
		`objstore_peer_reads_total{outcome="owner_failed"} 22`,
		`objstore_peer_reads_total{outcome="owner_ok"} 0`,
		`objstore_replication_copies_total 23`,
		`objstore_replication_failures_total 24`,
		`objstore_replication_dropped_total 25`,
		`objstore_replication_queue_length 26`,
		`objstore_peer_served_bytes_total 27`,
	)
	if !strings.Contains(text, "# HELP objstore_upload_queue_oldest_seconds ") {
		t.Error("no help text for objstore_upload_queue_oldest_seconds")
	}

	// A second WatchNode replaces the first; nil stops reporting.
	m.WatchNode(func() Snapshot { return Snapshot{Hits: 99} })
	wantLines(t, scrape(t, m), `objstore_cache_hits_total 99`)
	m.WatchNode(nil)
	if text := scrape(t, m); strings.Contains(text, "objstore_cache_hits_total") {
		t.Errorf("node metrics still reported after WatchNode(nil)")
	}
}

func TestMetricsAreIndependent(t *testing.T) {
	a, b := New(nil), New(nil)
	a.ObserveRequest("s3", "get", 200, time.Millisecond)
	a.WatchNode(func() Snapshot { return Snapshot{Hits: 1} })
	if text := scrape(t, b); strings.Contains(text, "objstore_http_requests_total") || strings.Contains(text, "objstore_cache_hits_total") {
		t.Errorf("metrics of one Metrics appear in another's scrape")
	}
}
