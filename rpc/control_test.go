package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/realsync/real/history"
)

type fakeControl struct {
	st      Status
	entries []history.Entry
}

func (c *fakeControl) Status(context.Context) (Status, error) { return c.st, nil }

func (c *fakeControl) History(_ context.Context, after uint64, limit int) ([]history.Entry, uint64, error) {
	var out []history.Entry
	for _, e := range c.entries {
		if e.Index > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, 3, nil
}

func serveControl(t *testing.T, c Control) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ControlName)
	s, err := ListenControl(path, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("control socket left behind after shutdown: %v", err)
		}
	})
	return path
}

func TestControlStatusAndHistory(t *testing.T) {
	started := time.Unix(1700000000, 5)
	fc := &fakeControl{
		st: Status{Name: "desk", Arenas: []string{"docs"}, History: 9, Trimmed: 3, IndexRows: 4, UnrealEntries: 5, Started: started,
			Peers: []PeerStatus{{Name: "laptop", Address: "10.0.0.2:7410", Connected: true, LastContact: started.Add(time.Second),
				Acked: 7, Pending: 2, Received: 11, SentSinceStart: 6, ReceivedSinceStart: 10, DuplicatesSinceStart: 1,
				ReportsSent: 1, ReportsReceived: 2, LastError: "x", Reverse: true}}},
		entries: sampleBatch(),
	}
	path := serveControl(t, fc)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v, mode %v; want a socket of mode 0600", path, err, fi.Mode())
	}
	c := DialControl(path)
	defer c.Close()
	ctx := ctxT(t)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "desk" || !st.Started.Equal(started) || len(st.Peers) != 1 || st.Trimmed != 3 || st.UnrealEntries != 5 {
		t.Fatalf("status %+v", st)
	}
	got, want := st.Peers[0], fc.st.Peers[0]
	if !got.LastContact.Equal(want.LastContact) {
		t.Fatalf("last contact %v, want %v", got.LastContact, want.LastContact)
	}
	got.LastContact = want.LastContact
	if got != want {
		t.Fatalf("peer status %+v, want %+v", got, want)
	}
	es, trimmed, err := c.History(ctx, sampleBatch()[0].Index, 2)
	if err != nil || trimmed != 3 || len(es) != 2 || es[0].Index != sampleBatch()[1].Index {
		t.Fatalf("history: %v, trimmed %d, %+v", err, trimmed, es)
	}
	if _, _, err := c.History(ctx, 0, MaxBatch+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("history limit too large: %v, want ErrInvalid", err)
	}
}

// A stock gRPC client (gRPC protocol, reflection stream) explores the service.
func TestControlReflection(t *testing.T) {
	path := serveControl(t, &fakeControl{})
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	rc := grpcreflect.NewClient(hc, "http://control", connect.WithGRPC())
	stream := rc.NewStream(ctxT(t))
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "real.v1.ControlService") {
		t.Fatalf("reflection lists %v, want real.v1.ControlService", names)
	}
	files, err := stream.FileContainingSymbol("real.v1.ControlService")
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, f := range files {
		for _, s := range f.GetService() {
			if s.GetName() == "ControlService" {
				for _, m := range s.GetMethod() {
					methods = append(methods, m.GetName())
				}
			}
		}
	}
	if !slices.Equal(methods, []string{"Status", "History"}) {
		t.Fatalf("ControlService methods %v", methods)
	}
	// And the gRPC protocol itself works on the service.
	cc := DialControl(path)
	defer cc.Close()
	if _, err := cc.Status(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestControlSocketInUseAndStale(t *testing.T) {
	path := serveControl(t, &fakeControl{})
	if _, err := ListenControl(path, &fakeControl{}, nil); !errors.Is(err, ErrControlInUse) {
		t.Fatalf("second ListenControl: %v, want ErrControlInUse", err)
	}
	// A stale socket file (nothing listens) is replaced.
	stale := filepath.Join(t.TempDir(), ControlName)
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := ListenControl(stale, &fakeControl{}, nil)
	if err != nil {
		t.Fatalf("ListenControl over a stale socket: %v", err)
	}
	s.Shutdown(context.Background())
	// Nothing serving: the client says unavailable.
	c := DialControl(stale)
	defer c.Close()
	if _, err := c.Status(ctxT(t)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("status with no daemon: %v, want ErrUnavailable", err)
	}
}
