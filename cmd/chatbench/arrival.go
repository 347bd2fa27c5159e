package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// Arrival times. A delivery is timed from when the kernel received its bytes on the
// stream's socket (SO_TIMESTAMPNS), not from when the tool's reader got to them. The tool
// stands in for ten thousand separate clients with two cores and one Go scheduler, which
// serves ready readers in turns: during a fan-out a reader may wait milliseconds for its
// turn behind thousands of others, a wait that belongs to the tool, not to the server. The
// latency to the read, that wait included, is still reported ("as read by tool").

// arrivalConn is a stream's TCP connection read with recvmsg, keeping the kernel's receive
// time of the data of the latest read.
type arrivalConn struct {
	*net.TCPConn
	raw syscall.RawConn
	oob []byte

	// stampNs is the receive time of the latest read's newest bytes, in Unix nanoseconds,
	// or 0 when that read came without a stamp (Linux turns stamping on in deferred work,
	// so the first bytes of a run may have none). Every byte read so far arrived no later.
	// Owned by the reading goroutine.
	stampNs int64
}

// newArrivalConn asks the kernel to stamp what c receives. The caller keeps using c
// through the result; on an error c is left as it was.
func newArrivalConn(c net.Conn) (*arrivalConn, error) {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("arrival stamps: %T is not a TCP connection", c)
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("arrival stamps: %w", err)
	}

	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, fmt.Errorf("arrival stamps: set SO_TIMESTAMPNS: %w", err)
	}
	return &arrivalConn{TCPConn: tcp, raw: raw, oob: make([]byte, syscall.CmsgSpace(16))}, nil
}

// Read reads like the connection's Read (deadlines included) and notes the stamp.
func (c *arrivalConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}

	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, c.oob, 0)
		return rerr != syscall.EAGAIN // false: wait until the socket is readable
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}

	c.stampNs, _ = parseStamp(c.oob[:oobn]) // never an older read's stamp
	return n, nil
}

// parseStamp returns the SCM_TIMESTAMPNS time among the control messages in oob.
func parseStamp(oob []byte) (int64, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_TIMESTAMPNS ||
			len(m.Data) < 16 {
			continue
		}
		sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
		nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
		return sec*int64(time.Second) + nsec, true
	}
	return 0, false
}
