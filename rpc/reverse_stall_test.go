package rpc

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/rpc/gen/real/v1/realv1connect"
)

// rawReverseStore is a StoreService client over the laptop's reverse
// connection to f's server, that reads replies only when told.
func rawReverseStore(f *fixture) realv1connect.StoreServiceClient {
	return realv1connect.NewStoreServiceClient(&http.Client{Transport: reverseRoundTripper{pool: f.srv.reverse, peer: "laptop"}},
		"http://reverse.invalid", connect.WithReadMaxBytes(MaxTree+treeSlack))
}

// TestReverseStalledReadIsAbandoned: a peer reading the laptop's file
// over the reverse connection that stops taking the reply in (it answers
// pings, its windows stay shut) loses that stream after the Offer's
// StallTimeout: the laptop's content is closed, one warning names it.
func TestReverseStalledReadIsAbandoned(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(32 << 20) // far more than the HTTP/2 windows
	var active atomic.Int32
	var closed, afterClose atomic.Bool
	laptop := &memStore{files: map[string][]byte{"docs/big.bin": data},
		wrap: func(ct Content) Content { return watched{ct, &active, &closed, &afterClose} }}
	o, err := NewOffer(OfferConfig{
		Peer:  Peer{Name: "desk", Key: identity.Public(f.serverKey), Address: f.srv.Addr().String()},
		Key:   f.clientKey,
		Store: laptop,
		Log:   f.log.logger(),

		StallTimeout: stallTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	serveOffer(t, o)
	waitUntil(t, "reverse connection up", func() bool { return f.srv.Reverse("laptop") })
	ctx := ctxT(t)
	st, err := rawReverseStore(f).Read(ctx, connect.NewRequest(&realv1.ReadRequest{
		Arena: "docs", Path: "big.bin", Blob: blob.Of(data).Bytes(), Length: int64(len(data)),
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	waitFor(t, wctx, "the stalled stream's content closed on the laptop", closed.Load)
	if got := f.log.lines("level=WARN", "peer=desk", "stalled"); len(got) != 1 {
		t.Fatalf("want one warning naming the reader, got %d:\n%s", len(got), f.log)
	}
}

// slowContent is a laptop's disk that takes long to answer one read.
type slowContent struct {
	Content
	started chan struct{}
	delay   time.Duration
	active  *atomic.Int32
}

func (s slowContent) ReadAt(p []byte, off int64) (int, error) {
	s.active.Add(1)
	defer s.active.Add(-1)
	select {
	case s.started <- struct{}{}:
	default:
	}
	time.Sleep(s.delay)
	return s.Content.ReadAt(p, off)
}

// TestReverseOfferCloseWaitsForReads: a laptop stopping while the office
// reads its file from a slow disk: once Offer.Close returned nil, no read
// of its content is running any more (the daemon closes the store and
// unmounts next).
func TestReverseOfferCloseWaitsForReads(t *testing.T) {
	f := newFixture(t)
	data := randomBytes(1 << 20)
	var active atomic.Int32
	started := make(chan struct{}, 1)
	laptop := &memStore{files: map[string][]byte{"docs/a": data},
		wrap: func(ct Content) Content {
			return slowContent{Content: ct, started: started, delay: offerGrace + time.Second, active: &active}
		}}
	o := f.offerFrom(t, f.clientKey, laptop)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		o.Serve(ctx)
	}()
	waitUntil(t, "reverse connection up", func() bool { return f.srv.Reverse("laptop") })
	rc := f.srv.ReverseClient(Peer{Name: "laptop", Key: identity.Public(f.clientKey)}, nil)
	go rc.ReadAt(ctxT(t), "docs", "a", blob.Of(data), make([]byte, len(data)), 0)
	<-started
	cancel()
	<-served
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := o.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if n := active.Load(); n != 0 {
		t.Fatalf("Offer.Close returned nil with %d reads of the laptop's content running", n)
	}
}
