package rpc

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/realsync/real/identity"
)

// A peer that drops the call's connection and then stalls the refusal
// probe's TLS handshake does not hold the call past its context: the
// caller that gives up gets its answer at once, not after probeTimeout.
func TestProbeHonoursCallerContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for i := 0; ; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if i == 0 {
				conn.Close() // the call's connection: dropped during its handshake
				continue
			}
			accepted <- conn // the probe's: held open, never answered
		}
	}()
	defer func() {
		for {
			select {
			case conn := <-accepted:
				conn.Close()
			default:
				return
			}
		}
	}()

	c := NewClient(Peer{Name: "stalled", Key: identity.Public(newKey(t)), Address: ln.Addr().String()}, newKey(t), nil)
	defer c.Close()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Arenas(ctx)
		done <- err
	}()
	var probe net.Conn
	select {
	case probe = <-accepted:
		defer probe.Close()
	case err := <-done:
		t.Fatalf("the call returned %v without probing", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no probe connection came")
	}
	cancel() // the caller gives up while the probe waits for the handshake
	select {
	case err := <-done:
		if err == nil || errors.Is(err, ErrPeerKey) {
			t.Fatalf("error %v, want the call's failure (Unavailable or Canceled)", err)
		}
	case <-time.After(probeTimeout / 2):
		t.Fatalf("the call was still blocked in the probe after its context was cancelled")
	}
}
