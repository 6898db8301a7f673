package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// stallTimeout is the StallTimeout of these tests.
const stallTimeout = 300 * time.Millisecond

// rawStore is a StoreService client on c's own HTTP/2 TLS transport (so
// its key and windows: 4 MiB a stream), that reads replies only when told.
func rawStore(c *Client) realv1connect.StoreServiceClient {
	return realv1connect.NewStoreServiceClient(&http.Client{Transport: c.transport}, "https://"+c.peer.Address,
		connect.WithReadMaxBytes(MaxTree+treeSlack))
}

// waitFor waits until cond holds or ctx is done.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within the test's deadline", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// A peer that answers pings but never reads a Read stream it opened (its
// windows stay shut) loses that stream after StallTimeout: the handler
// ends, the content is closed, one warning names the peer.
func TestStalledReadIsAbandoned(t *testing.T) {
	f := newFixtureWith(t, func(cfg *ServerConfig) { cfg.StallTimeout = stallTimeout })
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(32 << 20) // far more than the HTTP/2 windows
	f.store.files["docs/big.bin"] = data
	var active atomic.Int32
	var closed, afterClose atomic.Bool
	f.store.wrap = func(ct Content) Content { return watched{ct, &active, &closed, &afterClose} }

	st, err := rawStore(c).Read(ctx, connect.NewRequest(&realv1.ReadRequest{
		Arena: "docs", Path: "big.bin", Blob: blob.Of(data).Bytes(), Length: int64(len(data)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	waitFor(t, wctx, "the stalled stream's content closed", closed.Load)
	if n := active.Load(); n != 0 {
		t.Fatalf("%d reads of the content still running after it was closed", n)
	}
	if e := f.log.lines("level=ERROR"); len(e) != 0 {
		t.Fatalf("errors logged for an abandoned stream:\n%s", f.log)
	}
	if got := f.log.lines("level=WARN", "peer=laptop", "stalled"); len(got) != 1 {
		t.Fatalf("want one warning naming the peer, got %d:\n%s", len(got), f.log)
	}
	// The stream ends with an error, short of the content.
	var got int
	for st.Receive() {
		got += len(st.Msg().GetData())
	}
	if st.Err() == nil || got >= len(data) {
		t.Fatalf("the abandoned stream gave %d of %d bytes, error %v", got, len(data), st.Err())
	}
	if afterClose.Load() {
		t.Fatal("the content was read after it was closed")
	}
	// The connection still serves.
	f.store.mu.Lock()
	f.store.wrap = nil
	f.store.mu.Unlock()
	p := make([]byte, 100)
	if _, err := c.ReadAt(ctx, "docs", "big.bin", blob.Of(data), p, 1000); err != nil || !bytes.Equal(p, data[1000:1100]) {
		t.Fatalf("a read after the abandoned stream: %v", err)
	}
}

// A slow reader that keeps taking the stream in (a message at a time, over
// several StallTimeouts in all) gets every byte.
func TestSlowReaderIsNotCut(t *testing.T) {
	// A longer bound than the other tests': a loaded machine may pause the
	// test's reader for a few hundred milliseconds.
	const timeout = 1 * time.Second
	f := newFixtureWith(t, func(cfg *ServerConfig) { cfg.StallTimeout = timeout })
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(8 << 20) // twice a stream's window
	f.store.files["docs/big.bin"] = data
	st, err := rawStore(c).Read(ctx, connect.NewRequest(&realv1.ReadRequest{
		Arena: "docs", Path: "big.bin", Blob: blob.Of(data).Bytes(), Length: int64(len(data)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []byte
	for st.Receive() {
		got = append(got, st.Msg().GetData()...)
		time.Sleep(timeout / 8) // 32 messages: about 4 StallTimeouts in all
	}
	if err := st.Err(); err != nil {
		t.Fatalf("the slow reader was cut off after %d of %d bytes: %v", len(got), len(data), err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the slow reader got %d bytes, not the %d of the content", len(got), len(data))
	}
	if w := f.log.lines("level=WARN"); len(w) != 0 {
		t.Fatalf("warnings for a reader that kept reading:\n%s", f.log)
	}
}

// A Tree reply larger than the HTTP/2 windows to a peer that does not read
// it is abandoned too.
func TestStalledTreeIsAbandoned(t *testing.T) {
	f := newFixtureWith(t, func(cfg *ServerConfig) { cfg.StallTimeout = stallTimeout })
	c := f.client(t)
	ctx := ctxT(t)
	data := []byte("a content whose tree is cached")
	b := blob.Of(data)
	f.store.files["docs/t.bin"] = data
	// The tree of a 512 GiB content: 8 MiB, twice a stream's window.
	const size = int64(131072) * blob.TreeChunk
	out := make([]byte, blob.OutboardSize(size))
	binary.LittleEndian.PutUint64(out, uint64(size))
	f.srv.trees.mu.Lock()
	f.srv.trees.add(b, out)
	f.srv.trees.mu.Unlock()
	f.store.wrap = func(ct Content) Content { return sized{ct, size} }

	body, err := proto.Marshal(&realv1.TreeRequest{Arena: "docs", Path: "t.bin", Blob: b.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.peer.Address+"/real.v1.StoreService/Tree", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/proto")
	resp, err := (&http.Client{Transport: c.transport}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	waitFor(t, wctx, "the stalled tree reply abandoned", func() bool {
		return len(f.log.lines("level=WARN", "peer=laptop", "stalled")) > 0
	})
	got, err := io.ReadAll(resp.Body)
	if err == nil || len(got) >= len(out) {
		t.Fatalf("the abandoned tree reply gave %d of %d bytes, error %v", len(got), len(out), err)
	}
	if w := f.log.lines("level=WARN", "peer=laptop", "stalled"); len(w) != 1 {
		t.Fatalf("want one warning, got %d:\n%s", len(w), f.log)
	}
}

func TestNegativeStallTimeoutRefused(t *testing.T) {
	_, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Key: newKey(t), StallTimeout: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "StallTimeout") {
		t.Fatalf("NewServer with a negative StallTimeout: %v", err)
	}
}
