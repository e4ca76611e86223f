//go:build !linux

package cork

import "syscall"

func setCork(syscall.RawConn, int) bool { return false }
