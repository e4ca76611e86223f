// Package core holds the vocabulary every other objstore package shares:
// object keys and their limits, object metadata (Info), consistency levels
// and the sentinel errors that cross package boundaries.
//
// It imports nothing of objstore, so any package may depend on it.
package core
