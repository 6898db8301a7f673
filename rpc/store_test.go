package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(b)
	return b
}

// peerFile adapts ReadAt of one remote file to io.ReaderAt.
type peerFile struct {
	ctx         context.Context
	c           *Client
	arena, path string
	b           blob.Hash
}

func (f peerFile) ReadAt(p []byte, off int64) (int, error) {
	return f.c.ReadAt(f.ctx, f.arena, f.path, f.b, p, off)
}

func TestReadAt(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(3<<20 + 12345)
	f.store.files["docs/film.mkv"] = data
	b := blob.Of(data)

	// The whole file in one call: many chunks.
	got := make([]byte, len(data))
	n, err := c.ReadAt(ctx, "docs", "film.mkv", b, got, 0)
	if err != nil || n != len(data) {
		t.Fatalf("ReadAt = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}

	// Streamed through io.SectionReader with an odd buffer: same hash.
	h, size, err := blob.Read(io.NewSectionReader(peerFile{ctx, c, "docs", "film.mkv", b}, 0, int64(len(data))))
	if err != nil || h != b || size != int64(len(data)) {
		t.Fatalf("streamed read: %d bytes, hash %s, %v; want %d, %s", size, h, err, len(data), b)
	}

	// A range in the middle.
	mid := make([]byte, 1000)
	if n, err := c.ReadAt(ctx, "docs", "film.mkv", b, mid, 1<<20+7); err != nil || n != 1000 || !bytes.Equal(mid, data[1<<20+7:][:1000]) {
		t.Fatalf("middle range: %d, %v", n, err)
	}

	// Across the end: what is there, and io.EOF.
	tail := make([]byte, 1<<20)
	off := int64(len(data) - 100)
	n, err = c.ReadAt(ctx, "docs", "film.mkv", b, tail, off)
	if n != 100 || err != io.EOF || !bytes.Equal(tail[:100], data[off:]) {
		t.Fatalf("read across the end = %d, %v; want 100, io.EOF", n, err)
	}
	// At and past the end.
	for _, off := range []int64{int64(len(data)), int64(len(data)) + 5000} {
		if n, err := c.ReadAt(ctx, "docs", "film.mkv", b, tail, off); n != 0 || err != io.EOF {
			t.Fatalf("read at %d = %d, %v; want 0, io.EOF", off, n, err)
		}
	}
	// An empty file.
	f.store.files["docs/empty"] = nil
	if n, err := c.ReadAt(ctx, "docs", "empty", blob.Of(nil), tail, 0); n != 0 || err != io.EOF {
		t.Fatalf("read of an empty file = %d, %v; want 0, io.EOF", n, err)
	}
	if f.store.opens[0] != "laptop" {
		t.Errorf("store saw caller %q, want laptop", f.store.opens[0])
	}
}

func TestReadErrors(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(1 << 20)
	f.store.files["docs/a.txt"] = data
	p := make([]byte, 4096)

	_, err := c.ReadAt(ctx, "docs", "a.txt", blob.Of([]byte("an older version")), p, 0)
	mustIs(t, err, ErrChanged)
	if !strings.Contains(err.Error(), "docs/a.txt") {
		t.Errorf("error %q does not name the file", err)
	}
	_, err = c.ReadAt(ctx, "docs", "gone.txt", blob.Of(data), p, 0)
	mustIs(t, err, ErrNotFound)
	_, err = c.ReadAt(ctx, "music", "a.txt", blob.Of(data), p, 0)
	mustIs(t, err, ErrUnknownArena)
	if errors.Is(err, ErrInvalid) {
		t.Errorf("unknown arena %v also matches ErrInvalid", err)
	}

	// Truncated while being read: ErrChanged, with the bytes read so far.
	f.store.wrap = func(c Content) Content { return shrinking{c, 300 << 10} }
	big := make([]byte, len(data))
	n, err := c.ReadAt(ctx, "docs", "a.txt", blob.Of(data), big, 0)
	mustIs(t, err, ErrChanged)
	if n > 300<<10 || !bytes.Equal(big[:n], data[:n]) {
		t.Errorf("got %d bytes before the change, want at most %d and the same bytes", n, 300<<10)
	}
	f.store.wrap = nil

	// Bad requests are refused by the client before sending...
	opens := len(f.store.opens)
	for name, call := range map[string]func() error{
		"dotdot":     func() error { _, err := c.ReadAt(ctx, "docs", "../x", blob.Of(data), p, 0); return err },
		"bad arena":  func() error { _, err := c.ReadAt(ctx, "/docs", "a.txt", blob.Of(data), p, 0); return err },
		"no blob":    func() error { _, err := c.ReadAt(ctx, "docs", "a.txt", blob.Hash{}, p, 0); return err },
		"negative":   func() error { _, err := c.ReadAt(ctx, "docs", "a.txt", blob.Of(data), p, -1); return err },
		"NUL":        func() error { _, err := c.ReadAt(ctx, "docs", "a\x00", blob.Of(data), p, 0); return err },
		"empty path": func() error { _, err := c.ReadAt(ctx, "docs", "", blob.Of(data), p, 0); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// ...and by the server.
	for name, req := range map[string]*realv1.ReadRequest{
		"dotdot":     {Arena: "docs", Path: "a/../../x", Blob: blob.Of(data).Bytes()},
		"short blob": {Arena: "docs", Path: "a.txt", Blob: []byte{1, 2, 3}},
		"negative":   {Arena: "docs", Path: "a.txt", Blob: blob.Of(data).Bytes(), Length: -5},
	} {
		s, err := c.store.Read(ctx, connect.NewRequest(req))
		if err == nil {
			for s.Receive() {
			}
			err = s.Err()
			s.Close()
		}
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
	if len(f.store.opens) != opens {
		t.Error("the store was asked to open an invalid request")
	}
}

// A caller speaking Connect with JSON instead of protobuf gets the same
// bytes (the server's shortcut codec is for protobuf only).
func TestReadJSON(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(MaxChunk*2 + 999)
	f.store.files["docs/a.bin"] = data
	js := realv1connect.NewStoreServiceClient(&http.Client{Transport: c.transport}, "https://"+c.peer.Address, connect.WithProtoJSON())
	s, err := js.Read(ctx, connect.NewRequest(&realv1.ReadRequest{Arena: "docs", Path: "a.bin", Blob: blob.Of(data).Bytes(), Offset: 5, Length: int64(len(data))}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []byte
	var size int64
	for s.Receive() {
		got = append(got, s.Msg().GetData()...)
		size = max(size, s.Msg().GetSize())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if size != int64(len(data)) || !bytes.Equal(got, data[5:]) {
		t.Fatalf("JSON read: size %d, %d bytes; want %d, %d", size, len(got), len(data), len(data)-5)
	}
}
