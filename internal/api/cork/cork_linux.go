package cork

import "syscall"

func setCork(rc syscall.RawConn, on int) bool {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on)
	})
	return err == nil && serr == nil
}
