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

// The server hands net/http a decrypted stream configured as HTTP/2 with
// prior knowledge; the socket itself must still speak TLS only.
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

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readsNothing tells whether nothing arrives on c for a moment.
func readsNothing(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	n, err := c.Read(make([]byte, 1))
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestRecordBatcher(t *testing.T) {
	peer, raw := tcpPair(t)
	b := &recordBatcher{Conn: raw}

	// Outside a batch a write goes out at once.
	if _, err := b.Write([]byte("now")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "now" {
		t.Fatalf("got %q, %v", got, err)
	}

	// Inside one, writes wait for end, in order, even one from another
	// goroutine (a TLS alert); more than batchBytes goes out as it fills.
	var want []byte
	b.begin()
	for i := range 3 {
		p := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		want = append(want, p...)
		if _, err := b.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error)
	go func() {
		_, err := b.Write([]byte("alert"))
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want = append(want, "alert"...)
	if !readsNothing(t, peer) {
		t.Fatal("a batched write went out before the batch ended")
	}
	if err := b.end(); err != nil {
		t.Fatal(err)
	}
	got = make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after end: %v, bytes equal %v", err, bytes.Equal(got, want))
	}

	b.begin()
	big := bytes.Repeat([]byte("0123456789abcdef"), (batchBytes+4096)/16)
	for off := 0; off < len(big); off += 16 << 10 {
		if _, err := b.Write(big[off:min(off+16<<10, len(big))]); err != nil {
			t.Fatal(err)
		}
	}
	first := make([]byte, batchBytes-16<<10)
	if _, err := io.ReadFull(peer, first); err != nil || !bytes.Equal(first, big[:len(first)]) {
		t.Fatalf("a full batch did not go out before end: %v", err)
	}
	if err := b.end(); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, len(big)-len(first))
	if _, err := io.ReadFull(peer, rest); err != nil || !bytes.Equal(rest, big[len(first):]) {
		t.Fatalf("the rest after end: %v", err)
	}

	// A write error (the peer gone) comes back from end.
	peer.Close()
	raw.(*net.TCPConn).CloseWrite()
	b.begin()
	var err error
	for range 100 {
		if _, err = b.Write(make([]byte, 16<<10)); err != nil {
			break
		}
	}
	if eerr := b.end(); err == nil && eerr == nil {
		t.Fatal("writes to a closed connection reported no error")
	}
}
