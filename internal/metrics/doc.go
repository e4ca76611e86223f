// Package metrics turns objstore's counters into Prometheus metrics. It is
// the only objstore package that imports Prometheus: components count in
// plain integers and the node hands a Snapshot of them to WatchNode, which
// reads it on every scrape.
//
// Guarantees:
//   - Every Metrics has its own registry, so two nodes in one process (as in
//     tests) never collide on a global one.
//   - Instrument keeps the wrapped ResponseWriter's io.ReaderFrom, so a body
//     served from an *os.File through http.ServeContent still goes out with
//     sendfile, and exposes Unwrap for http.ResponseController.
//   - Nothing here panics on a repeated call: WatchNode replaces the
//     snapshot function instead of registering a second collector.
package metrics
