package rpc

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/tree"
)

func sampleBatch() []history.Entry {
	mt := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	a, b := blob.Of([]byte("new")), blob.Of([]byte("old"))
	return []history.Entry{
		{Index: 42, Kind: history.Link, Arena: "docs", Path: "notes/todo.txt", Mtime: mt, Size: 3, Blob: a, PrevBlob: b},
		{Index: 43, Kind: history.Available, Arena: "photos/2024", Path: "été/img 1.jpg", Mtime: mt.Add(time.Second), Size: 1 << 40, Blob: b},
		{Index: 50, Kind: history.Unlink, Arena: "docs", Path: "old.txt", Mtime: mt, PrevBlob: a},
		{Index: 51, Kind: history.Drop, Arena: "docs", Path: "big.iso", Mtime: time.Unix(0, 0), PrevBlob: b},
	}
}

func TestArenasAndNotifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)

	arenas, progress, err := c.Arenas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(arenas, []string{"docs", "photos/2024"}) || progress != 41 {
		t.Fatalf("Arenas = %q, %d; want [docs photos/2024], 41", arenas, progress)
	}

	sent := sampleBatch()
	progress, err = c.Notify(ctx, sent)
	if err != nil {
		t.Fatal(err)
	}
	if progress != 51 {
		t.Fatalf("Notify progress = %d, want 51", progress)
	}
	if len(f.hist.batches) != 1 {
		t.Fatalf("handler got %d batches, want 1", len(f.hist.batches))
	}
	got := f.hist.batches[0]
	if len(got) != len(sent) {
		t.Fatalf("handler got %d entries, want %d", len(got), len(sent))
	}
	for i := range sent {
		w, g := sent[i], got[i]
		if !g.Mtime.Equal(w.Mtime) {
			t.Errorf("entry %d: mtime %v, want %v", i, g.Mtime, w.Mtime)
		}
		g.Mtime, w.Mtime = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if !slices.Equal(f.hist.peers, []string{"laptop", "laptop"}) {
		t.Errorf("handler saw callers %q, want laptop twice", f.hist.peers)
	}

	// An empty batch only asks for the progress.
	if progress, err = c.Notify(ctx, nil); err != nil || progress != 51 {
		t.Fatalf("empty Notify = %d, %v; want 51, nil", progress, err)
	}
}

// wire returns a valid notification to spoil.
func wire() *realv1.Notification {
	e := sampleBatch()[0]
	return toWire(&e)
}

func TestNotifyRefusesBadBatches(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)

	one := func(mod func(n *realv1.Notification)) []*realv1.Notification {
		n := wire()
		mod(n)
		return []*realv1.Notification{n}
	}
	many := func(count int) []*realv1.Notification {
		ns := make([]*realv1.Notification, count)
		for i := range ns {
			ns[i] = wire()
			ns[i].Index = uint64(i + 1)
		}
		return ns
	}
	cases := []struct {
		name  string
		ns    []*realv1.Notification
		words string // the error names the thing at fault
	}{
		{"dotdot path", one(func(n *realv1.Notification) { n.Path = "a/../../etc/passwd" }), `"a/../../etc/passwd"`},
		{"dotdot only", one(func(n *realv1.Notification) { n.Path = ".." }), `".."`},
		{"absolute path", one(func(n *realv1.Notification) { n.Path = "/etc/passwd" }), "absolute"},
		{"NUL in path", one(func(n *realv1.Notification) { n.Path = "a\x00b" }), "NUL"},
		{"empty path", one(func(n *realv1.Notification) { n.Path = "" }), "empty"},
		{"empty element", one(func(n *realv1.Notification) { n.Path = "a//b" }), `"a//b"`},
		{"over-long name", one(func(n *realv1.Notification) { n.Path = "d/" + strings.Repeat("x", 256) }), "longer than 255"},
		{"bad arena", one(func(n *realv1.Notification) { n.Arena = "../docs" }), "arena"},
		{"unknown kind", one(func(n *realv1.Notification) { n.Kind = 9 }), "kind 9"},
		{"unspecified kind", one(func(n *realv1.Notification) { n.Kind = realv1.Kind_KIND_UNSPECIFIED }), "kind 0"},
		{"short blob", one(func(n *realv1.Notification) { n.Blob = n.Blob[:31] }), "31 bytes"},
		{"long prev_blob", one(func(n *realv1.Notification) { n.PrevBlob = append(n.PrevBlob, 0) }), "prev_blob"},
		{"link without blob", one(func(n *realv1.Notification) { n.Blob = nil }), "no blob"},
		{"unlink with content", one(func(n *realv1.Notification) { n.Kind = realv1.Kind_KIND_UNLINK }), "carries content"},
		{"negative size", one(func(n *realv1.Notification) { n.Size = -1 }), "negative size"},
		{"future mtime", one(func(n *realv1.Notification) { n.Mtime = time.Now().Add(48 * time.Hour).UnixNano() }), "future"},
		{"index 0", one(func(n *realv1.Notification) { n.Index = 0 }), "index 0"},
		{"decreasing index", []*realv1.Notification{
			func() *realv1.Notification { n := wire(); n.Index = 7; return n }(),
			func() *realv1.Notification { n := wire(); n.Index = 6; return n }(),
		}, "index 6 after 7"},
		{"repeated index", []*realv1.Notification{wire(), wire()}, "index 42 after 42"},
		{"too large batch", many(MaxBatch + 1), "10001 notifications, at most 10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.hist.calls()
			// Straight to the wire, past the client's own checks.
			_, err := c.history.Notify(ctx, connect.NewRequest(&realv1.NotifyRequest{Notifications: tc.ns}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("code %v (%v), want invalid_argument", connect.CodeOf(err), err)
			}
			err = fromConnect(err)
			mustIs(t, err, ErrInvalid)
			if errors.Is(err, ErrUnknownArena) {
				t.Errorf("%v also matches ErrUnknownArena", err)
			}
			if !strings.Contains(err.Error(), tc.words) {
				t.Errorf("error %q does not mention %q", err, tc.words)
			}
			if f.hist.calls() != before {
				t.Fatal("the handler was called with an invalid batch")
			}
			// The client refuses to send the same batch.
			var req realv1.NotifyRequest
			req.Notifications = tc.ns
			batch, derr := decodeLoose(&req)
			if derr == nil {
				_, err = c.Notify(ctx, batch)
				mustIs(t, err, ErrInvalid)
				if f.hist.calls() != before {
					t.Fatal("the client sent an invalid batch")
				}
			}
		})
	}
	// The refusal was logged with the peer that sent it.
	if len(f.log.lines("refused request", "peer=laptop")) == 0 {
		t.Errorf("no log line for a refused batch:\n%s", f.log)
	}
}

// A peer retrying the same bad batch is logged at Warn once, then at
// Debug; another refusal is logged at Warn again.
func TestRefusalLoggedOnce(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	future := wire()
	future.Mtime = time.Now().Add(48 * time.Hour).UnixNano()
	for range 3 {
		_, err := c.history.Notify(ctx, connect.NewRequest(&realv1.NotifyRequest{Notifications: []*realv1.Notification{future}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("future mtime: %v, want invalid_argument", err)
		}
	}
	if got := f.log.lines("level=WARN", "refused request", "op=notify", "future"); len(got) != 1 {
		t.Errorf("%d Warn lines for the same refusal three times, want 1:\n%s", len(got), f.log)
	}
	if got := f.log.lines("level=DEBUG", "refused request", "op=notify", "future"); len(got) != 2 {
		t.Errorf("%d Debug lines for the repeats, want 2:\n%s", len(got), f.log)
	}
	dotdot := wire()
	dotdot.Path = "../x"
	_, err := c.history.Notify(ctx, connect.NewRequest(&realv1.NotifyRequest{Notifications: []*realv1.Notification{dotdot}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("dotdot: %v, want invalid_argument", err)
	}
	if got := f.log.lines("level=WARN", "refused request", "op=notify", `../x`); len(got) != 1 {
		t.Errorf("another refusal: %d Warn lines, want 1:\n%s", len(got), f.log)
	}
	if f.hist.calls() != 0 {
		t.Error("the handler was called with a refused batch")
	}
}

// decodeLoose converts without validating (to hand bad batches to Client.Notify).
func decodeLoose(req *realv1.NotifyRequest) ([]history.Entry, error) {
	var out []history.Entry
	for _, n := range req.GetNotifications() {
		e, err := fromWire(n)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func TestNotifyFullBatch(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	batch := make([]history.Entry, MaxBatch)
	for i := range batch {
		batch[i] = sampleBatch()[0]
		batch[i].Index = uint64(i + 1)
	}
	progress, err := c.Notify(ctxT(t), batch)
	if err != nil {
		t.Fatal(err)
	}
	if progress != MaxBatch || len(f.hist.batches[0]) != MaxBatch {
		t.Fatalf("progress %d, want %d", progress, MaxBatch)
	}
}

// No valid batch is refused for its size: the largest one fits the limit.
func TestLargestBatchFitsMessageLimit(t *testing.T) {
	long := strings.Repeat("d/", tree.MaxPath/2-1) + "ff"
	if err := tree.CheckPath(long); err != nil || len(long) != tree.MaxPath {
		t.Fatalf("test path of %d bytes: %v", len(long), err)
	}
	batch := make([]history.Entry, MaxBatch)
	for i := range batch {
		batch[i] = sampleBatch()[0]
		batch[i].Index = math.MaxUint64 - uint64(MaxBatch-i)
		batch[i].Arena, batch[i].Path = long, long
		batch[i].Size = math.MaxInt64
		batch[i].Mtime = time.Unix(0, math.MinInt64)
	}
	req, err := encodeBatch(batch, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := proto.Size(req); n > MaxNotifyBytes {
		t.Fatalf("largest batch encodes to %d bytes, over MaxNotifyBytes %d", n, MaxNotifyBytes)
	}
}

func TestHandlerErrorsReachTheCaller(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)

	f.hist.err = errors.New("database is locked")
	_, _, err := c.Arenas(ctx)
	if err == nil || !strings.Contains(err.Error(), "database is locked") || !strings.Contains(err.Error(), "peer desk") {
		t.Fatalf("error %v: want the handler's text and the peer's name", err)
	}
	for _, s := range []error{ErrInvalid, ErrNotFound, ErrChanged, ErrUnknownArena, ErrUnavailable} {
		if errors.Is(err, s) {
			t.Errorf("internal error %v matches %v", err, s)
		}
	}

	f.hist.err = context.DeadlineExceeded
	_, err = c.Notify(ctx, sampleBatch())
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Errorf("code %v, want deadline_exceeded", connect.CodeOf(err))
	}

	for _, s := range []error{ErrInvalid, ErrNotFound, ErrChanged, ErrUnknownArena, ErrUnavailable} {
		f.hist.err = errors.Join(errors.New("handler says"), s)
		_, err = c.Notify(ctx, sampleBatch())
		mustIs(t, err, s)
	}
}

func TestArenasReplyIsChecked(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	f.hist.arenas = []string{"docs", "docs/sub"}
	_, _, err := c.Arenas(ctxT(t))
	mustIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "prefix") {
		t.Errorf("error %q does not say why", err)
	}
}
