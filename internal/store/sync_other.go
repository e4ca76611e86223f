//go:build !linux

package store

import (
	"os"
	"syscall"
)

// syncFS falls back to sync(2), which flushes every filesystem.
func syncFS(*os.File) error {
	syscall.Sync()
	return nil
}
