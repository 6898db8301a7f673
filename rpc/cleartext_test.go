package rpc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// Nothing is served in clear text: an HTTP/2 client with prior knowledge
// gets no HTTP/2 answer.
func TestCleartextHTTP2IsRefused(t *testing.T) {
	f := newFixture(t)
	conn, err := net.Dial("tcp", f.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(h2Preface); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server neither answered nor closed a cleartext HTTP/2 connection")
	}
	// A TLS server answers garbage with an alert record (type 21) or just closes.
	if bytes.Contains(got, []byte{0, 0, 0, 4}) || len(got) > 0 && got[0] != 21 {
		t.Fatalf("a cleartext HTTP/2 client got %q, want a TLS alert or nothing", got)
	}
	if f.hist.calls() != 0 {
		t.Fatal("the handler was called over cleartext")
	}
}
