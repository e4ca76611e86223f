package store

import (
	"os"

	"golang.org/x/sys/unix"
)

func syncFS(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }
