package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// The server refused those two with OutOfRange, logged once each.
	if got := f.log.lines("level=WARN", "refused request", "docs/film.mkv", "past the end"); len(got) != 2 {
		t.Errorf("%d refusals of reads past the end logged, want 2:\n%s", len(got), f.log)
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

// A read starting at or past the end is refused by the server with
// OutOfRange and a message naming the file, its size and the offset; the
// store content is not read.
func TestReadPastEnd(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(5000)
	f.store.files["docs/a.bin"] = data
	for _, off := range []int64{5000, 5001, 1 << 40} {
		s, err := c.store.Read(ctx, connect.NewRequest(&realv1.ReadRequest{Arena: "docs", Path: "a.bin", Blob: blob.Of(data).Bytes(), Offset: off, Length: 10}))
		if err == nil {
			for s.Receive() {
				t.Errorf("read at %d: got a message %d bytes, size %d", off, len(s.Msg().GetData()), s.Msg().GetSize())
			}
			err = s.Err()
			s.Close()
		}
		if connect.CodeOf(err) != connect.CodeOutOfRange {
			t.Fatalf("read at %d: %v, want out_of_range", off, err)
		}
		msg := err.Error()
		for _, want := range []string{"docs/a.bin", fmt.Sprint(off), "5000 bytes"} {
			if !strings.Contains(msg, want) {
				t.Errorf("read at %d: message %q does not say %q", off, msg, want)
			}
		}
		mustIs(t, fromConnect(err), ErrOutOfRange)
	}
	if got := f.log.lines("level=WARN", "refused request", "op=read", "peer=laptop", "past the end"); len(got) != 3 {
		t.Errorf("%d refusals logged, want 3 (one per request):\n%s", len(got), f.log)
	}
	// A read of 0 bytes at the end is no error (the first message carries the size).
	s, err := c.store.Read(ctx, connect.NewRequest(&realv1.ReadRequest{Arena: "docs", Path: "a.bin", Blob: blob.Of(data).Bytes(), Offset: 5000}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for s.Receive() {
		if s.Msg().GetSize() != 5000 || len(s.Msg().GetData()) != 0 {
			t.Errorf("empty read: %d bytes, size %d", len(s.Msg().GetData()), s.Msg().GetSize())
		}
	}
	if err := s.Err(); err != nil {
		t.Errorf("empty read at the end: %v", err)
	}
	// The changed check comes first: an older version past its end is ErrChanged.
	_, err = c.ReadAt(ctx, "docs", "a.bin", blob.Of([]byte("older")), make([]byte, 10), 6000)
	mustIs(t, err, ErrChanged)
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
