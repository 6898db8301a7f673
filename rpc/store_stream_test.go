package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// Connect streaming envelope flags, and the bound of a Read reply message
// (the store client's WithReadMaxBytes).
const (
	flagCompressed = 0x01
	flagEndStream  = 0x02
	maxReadMessage = MaxChunk + 4096
)

// envelope frames msg as one Connect streaming message.
func envelope(flags byte, msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	b[0] = flags
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

func readResponse(t testing.TB, m *realv1.ReadResponse) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// connectRead reads req with the generated Connect client (protobuf codec,
// realv1.ReadResponse messages) over c's transport: the bytes and the error
// as fromConnect maps it.
func connectRead(ctx context.Context, c *Client, req *realv1.ReadRequest) ([]byte, error) {
	gen := realv1connect.NewStoreServiceClient(&http.Client{Transport: c.transport}, "https://"+c.peer.Address, connect.WithReadMaxBytes(maxReadMessage))
	s, err := gen.Read(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, fromConnect(err)
	}
	defer s.Close()
	var got []byte
	for s.Receive() {
		got = append(got, s.Msg().GetData()...)
	}
	return got, fromConnect(s.Err())
}

var sentinels = []error{ErrInvalid, ErrNotFound, ErrChanged, ErrUnknownArena, ErrUnavailable, ErrOutOfRange, ErrTooLarge, ErrPeerKey}

// sameError fails unless got (from ReadAt) and want (from the generated
// client) match the same sentinels and carry the same Connect error.
func sameError(t *testing.T, name string, got, want error) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: ReadAt error %v, generated client's %v: want both", name, got, want)
	}
	for _, s := range sentinels {
		if errors.Is(got, s) != errors.Is(want, s) {
			t.Errorf("%s: ReadAt error %v matches %v: %t; generated client's %v: %t", name, got, s, errors.Is(got, s), want, errors.Is(want, s))
		}
	}
	var gce, wce *connect.Error
	if !errors.As(got, &gce) || !errors.As(want, &wce) {
		t.Fatalf("%s: no Connect error in %v or %v", name, got, want)
	}
	if gce.Code() != wce.Code() || gce.Message() != wce.Message() || len(gce.Details()) != len(wce.Details()) {
		t.Fatalf("%s: ReadAt got %v (%d details), generated client %v (%d details)", name, gce, len(gce.Details()), wce, len(wce.Details()))
	}
	for i, d := range gce.Details() {
		w := wce.Details()[i]
		if d.Type() != w.Type() || !bytes.Equal(d.Bytes(), w.Bytes()) {
			t.Errorf("%s: detail %d is %s %x, generated client's %s %x", name, i, d.Type(), d.Bytes(), w.Type(), w.Bytes())
		}
	}
}

// ReadAt over many messages gives the same bytes as the generated Connect
// client, and every error the server ends the stream with maps to what the
// generated client's error maps to for the same request.
func TestReadAtMatchesConnect(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(5*MaxChunk + 777)
	f.store.files["docs/a.bin"] = data
	b := blob.Of(data)

	got := make([]byte, len(data)-3)
	if n, err := c.ReadAt(ctx, "docs", "a.bin", b, got, 3); err != nil || n != len(got) || !bytes.Equal(got, data[3:]) {
		t.Fatalf("ReadAt = %d, %v; want the %d bytes", n, err, len(got))
	}
	want, err := connectRead(ctx, c, &realv1.ReadRequest{Arena: "docs", Path: "a.bin", Blob: b.Bytes(), Offset: 3, Length: int64(len(got))})
	if err != nil || !bytes.Equal(want, got) {
		t.Fatalf("generated client: %d bytes, %v", len(want), err)
	}

	for _, tc := range []struct {
		name        string
		arena, path string
		b           blob.Hash
		off         int64
		shrink      int64
		sentinel    error
	}{
		{name: "changed mid-read", arena: "docs", path: "a.bin", b: b, shrink: 2*MaxChunk + 5, sentinel: ErrChanged},
		{name: "older version", arena: "docs", path: "a.bin", b: blob.Of([]byte("old")), sentinel: ErrChanged},
		{name: "unknown arena", arena: "music", path: "a.bin", b: b, sentinel: ErrUnknownArena},
		{name: "missing", arena: "docs", path: "gone.bin", b: b, sentinel: ErrNotFound},
		{name: "past the end", arena: "docs", path: "a.bin", b: b, off: int64(len(data)) + 10, sentinel: ErrOutOfRange},
	} {
		f.store.wrap = nil
		if tc.shrink > 0 {
			f.store.wrap = func(c Content) Content { return shrinking{c, tc.shrink} }
		}
		p := make([]byte, len(data))
		n, err := c.ReadAt(ctx, tc.arena, tc.path, tc.b, p, tc.off)
		_, werr := connectRead(ctx, c, &realv1.ReadRequest{Arena: tc.arena, Path: tc.path, Blob: tc.b.Bytes(), Offset: tc.off, Length: int64(len(p))})
		if tc.sentinel == ErrOutOfRange {
			// ReadAt's own rule: io.EOF, n = 0 (as before).
			if n != 0 || err != io.EOF || !errors.Is(werr, ErrOutOfRange) {
				t.Errorf("%s: ReadAt = %d, %v; generated client %v", tc.name, n, err, werr)
			}
			continue
		}
		mustIs(t, err, tc.sentinel)
		sameError(t, tc.name, err, werr)
		if !bytes.Equal(p[:n], data[tc.off:][:n]) || int64(n) > max(tc.shrink, 0) {
			t.Errorf("%s: %d bytes before the error, not the file's first ones", tc.name, n)
		}
	}
	f.store.wrap = nil
}

// A caller's cancel (here from its progress callback) stops the read with
// context.Canceled.
func TestReadAtCancel(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	data := randomBytes(8 * MaxChunk)
	f.store.files["docs/a.bin"] = data
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	ctx = WithProgress(ctx, func(int) { cancel() })
	n, err := c.ReadAt(ctx, "docs", "a.bin", blob.Of(data), make([]byte, len(data)), 0)
	if n == len(data) || !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAt = %d, %v; want fewer bytes and context.Canceled", n, err)
	}
}

// fakeStore serves hand-made Read response bodies over HTTP/2 TLS with the
// key c pins.
type fakeStore struct {
	mu    sync.Mutex
	reply func(w http.ResponseWriter)
	c     *Client
}

func newFakeStore(t *testing.T) *fakeStore {
	t.Helper()
	key := newKey(t)
	cert, err := selfSigned(key)
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeStore{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fs.mu.Lock()
		reply := fs.reply
		fs.mu.Unlock()
		reply(w)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	fs.c = NewClient(Peer{Name: "fake", Key: identity.Public(key), Address: srv.Listener.Addr().String()}, newKey(t), nil)
	t.Cleanup(fs.c.Close)
	return fs
}

func (fs *fakeStore) serve(status int, contentType string, body []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.reply = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write(body)
	}
}

// A stream that ends early, or is not a Read stream, is an error, whatever
// part is missing (a real HTTP/2 TLS server serving hand-made bodies).
func TestReadAtTruncatedStream(t *testing.T) {
	fs := newFakeStore(t)
	ctx := ctxT(t)
	data := randomBytes(3000)
	b := blob.Of(data)
	first := envelope(0, readResponse(t, &realv1.ReadResponse{Size: int64(len(data)), Data: data[:2000]}))
	second := envelope(0, readResponse(t, &realv1.ReadResponse{Data: data[2000:]}))
	end := envelope(flagEndStream, []byte("{}"))
	whole := slicesConcat(first, second, end)
	const ct = "application/connect+proto"

	// The whole stream reads.
	fs.serve(200, ct, whole)
	p := make([]byte, len(data))
	if n, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0); err != nil || n != len(data) || !bytes.Equal(p, data) {
		t.Fatalf("whole stream: %d, %v", n, err)
	}
	for name, body := range map[string][]byte{
		"no end-of-stream":       slicesConcat(first, second),
		"cut in the data":        whole[:len(first)+100],
		"cut in a prefix":        whole[:len(first)+3],
		"cut in the field tags":  whole[:len(first)+6],
		"cut in the end message": whole[:len(whole)-1],
		"empty body":             nil,
		"compressed message":     slicesConcat(append([]byte{flagCompressed}, first[1:]...), second, end),
		"bad end message":        slicesConcat(first, second, envelope(flagEndStream, []byte("{"))),
		"bad field":              slicesConcat(first, envelope(0, []byte{0x0a, 0xff}), end),
		"too large a message":    slicesConcat(first, envelope(0, make([]byte, maxReadMessage+1))),
	} {
		fs.serve(200, ct, body)
		n, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0)
		if err == nil || err == io.EOF {
			t.Errorf("%s: ReadAt = %d, %v; want an error", name, n, err)
		}
		if !strings.Contains(err.Error(), "peer fake: read docs/a.bin") {
			t.Errorf("%s: error %q does not name the peer and the file", name, err)
		}
	}
	// Not a Read stream: a status other than 200, another content type.
	fs.serve(503, "text/plain", []byte("busy"))
	_, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0)
	mustIs(t, err, ErrUnavailable)
	fs.serve(404, "text/plain", nil)
	if _, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("404: %v, want unimplemented", err)
	}
	fs.serve(200, "application/connect+json", whole)
	if _, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0); err == nil {
		t.Error("a JSON stream was read as protobuf")
	}
	// An error in the end-of-stream message, as a Connect server writes it.
	fs.serve(200, ct, slicesConcat(first, envelope(flagEndStream,
		[]byte(`{"error":{"code":"failed_precondition","message":"docs/a.bin changed","details":[{"type":"real.v1.ErrorInfo","value":"CAM"}]}}`))))
	n, err := fs.c.ReadAt(ctx, "docs", "a.bin", b, p, 0)
	mustIs(t, err, ErrChanged)
	if n != 2000 || !strings.Contains(err.Error(), "docs/a.bin changed") {
		t.Errorf("changed at the end: %d, %v", n, err)
	}
}

func slicesConcat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
