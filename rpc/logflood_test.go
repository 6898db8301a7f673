package rpc

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// A peer that sends bad request after bad request, each one different (a
// new path each time), does not get one warning per request: past a bound
// its refusals are logged at Debug, and one warning says so. Each is still
// refused.
func TestRefusalsOfOnePeerDoNotFloodTheLog(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	b := blob.Of([]byte("x")).Bytes()
	const calls = maxRefusedLogged + 200
	for i := range calls {
		req := &realv1.ReadRequest{Arena: "docs", Path: fmt.Sprintf("a/../../x%d", i), Blob: b, Length: 1}
		s, err := c.store.Read(ctx, connect.NewRequest(req))
		if err == nil {
			for s.Receive() {
			}
			err = s.Err()
			s.Close()
		}
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("call %d: %v, want invalid_argument", i, err)
		}
	}
	if debug := f.log.lines("level=DEBUG", "refused request", "peer=laptop"); len(debug) == 0 {
		t.Fatalf("no refusal went to Debug after %d distinct ones", calls)
	}
	if warn := f.log.lines("level=WARN", "peer=laptop"); len(warn) > maxRefusedPerPeer+1 {
		t.Fatalf("%d warnings for one peer's %d bad requests, want at most %d", len(warn), calls, maxRefusedPerPeer+1)
	}
}

// Connections with ever new unknown keys (an impostor generating keys) get
// one warning each up to a bound, then Debug, after one warning that says
// so; each is still refused.
func TestRefusedKeysDoNotFloodTheLog(t *testing.T) {
	f := newFixture(t)
	const max = 20 // maxRefusedLogged, made small: a handshake is slow under -race
	f.srv.refusedMu.Lock()
	f.srv.refusedMax = max
	f.srv.refusedMu.Unlock()
	const conns = 2 * max
	for i := range conns {
		cert, err := selfSigned(newKey(t))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", f.srv.Addr().String(), &tls.Config{
			InsecureSkipVerify: true, // this test only checks that the server refuses
			Certificates:       []tls.Certificate{cert},
			NextProtos:         []string{"h2"},
			MinVersion:         tls.VersionTLS13,
		})
		if err == nil {
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		if err == nil {
			t.Fatalf("connection %d with an unknown key was accepted", i)
		}
	}
	if warn := f.log.lines("level=WARN", "refused connection from an unknown key"); len(warn) != max {
		t.Fatalf("%d warnings for %d refused connections, want %d", len(warn), conns, max)
	}
	if debug := f.log.lines("level=DEBUG", "refused connection from an unknown key"); len(debug) != conns-max {
		t.Fatalf("%d refused connections logged at Debug, want %d", len(debug), conns-max)
	}
	if got := f.log.lines("level=WARN", "further refused connections"); len(got) != 1 {
		t.Fatalf("want one warning that further refusals go to Debug, got %d", len(got))
	}
}
