package rpc

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// A request that Connect refuses before any handler sees it (a path that is
// not UTF-8 fails protobuf's own decoding; bytes that are no protobuf) is
// refused with InvalidArgument and logged once at Warn, naming the peer and
// the procedure; nothing reaches the History.
func TestRefusedBeforeTheHandlerIsLoggedOnce(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)

	var n []byte
	n = protowire.AppendTag(n, 1, protowire.VarintType)
	n = protowire.AppendVarint(n, 1)
	n = protowire.AppendTag(n, 3, protowire.BytesType)
	n = protowire.AppendString(n, "docs")
	n = protowire.AppendTag(n, 4, protowire.BytesType)
	n = protowire.AppendString(n, "caf\xe9.txt") // Latin-1, not UTF-8
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, n)

	post := func(body []byte) int {
		return postTo(t, c, "/real.v1.HistoryService/Notify", "application/proto", body)
	}
	for range 3 {
		if st := post(req); st != http.StatusBadRequest {
			t.Fatalf("a notification with a non-UTF-8 path got HTTP %d, want 400 (invalid_argument)", st)
		}
	}
	if st := post([]byte{0xff, 0xff, 0xff}); st != http.StatusBadRequest {
		t.Fatalf("bytes that are no protobuf got HTTP %d, want 400 (invalid_argument)", st)
	}
	if f.hist.calls() != 0 {
		t.Fatal("the History was called for a request that could not be decoded")
	}
	if got := f.log.lines("level=WARN", "refused request", "peer=laptop", "Notify", "UTF-8"); len(got) != 1 {
		t.Fatalf("want one warning for the non-UTF-8 path, got %d:\n%s", len(got), f.log)
	}
	if got := f.log.lines("level=WARN", "refused request", "peer=laptop", "Notify"); len(got) != 2 {
		t.Fatalf("want two warnings (the non-UTF-8 path, the bad bytes), got %d:\n%s", len(got), f.log)
	}
}

// postTo posts body to procedure on c's peer and returns the HTTP status.
func postTo(t *testing.T, c *Client, procedure, contentType string, body []byte) int {
	t.Helper()
	r, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, "https://"+c.peer.Address+procedure, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	res, err := (&http.Client{Transport: c.transport}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// The same for a Read stream: Connect answers with an error at the
// stream's end, logged once; the Store opens nothing.
func TestRefusedReadBeforeTheHandlerIsLoggedOnce(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "docs")
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendString(req, "caf\xe9.txt") // Latin-1, not UTF-8
	for range 3 {
		postTo(t, c, "/real.v1.StoreService/Read", "application/connect+proto", envelope(0, req))
	}
	if len(f.store.opens) != 0 {
		t.Fatal("the Store opened a request that could not be decoded")
	}
	if got := f.log.lines("level=WARN", "refused request", "peer=laptop", "StoreService/Read", "UTF-8"); len(got) != 1 {
		t.Fatalf("want one warning for the non-UTF-8 path, got %d:\n%s", len(got), f.log)
	}
}
