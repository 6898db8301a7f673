package rpc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// fullHistory takes reports and serves pulls.
type fullHistory struct {
	fakeHistory
	mu      sync.Mutex
	need    bool
	reports []Report
	pulls   []Pull
	reply   PullReply
}

func (h *fullHistory) NeedsReport(context.Context, string) (bool, error) { return h.need, nil }

func (h *fullHistory) Report(_ context.Context, _ string, r Report) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports = append(h.reports, r)
	return nil
}

func (h *fullHistory) Pull(_ context.Context, _ string, p Pull) (PullReply, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pulls = append(h.pulls, p)
	return h.reply, nil
}

func fullFixture(t *testing.T, h History) (*Client, *logBuf) {
	t.Helper()
	serverKey, clientKey, log := newKey(t), newKey(t), &logBuf{}
	srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Key: serverKey, History: h, Log: log.logger(),
		Peers: []Peer{{Name: "laptop", Key: identity.Public(clientKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := NewClient(Peer{Name: "desk", Key: identity.Public(serverKey), Address: srv.Addr().String()}, clientKey, nil)
	t.Cleanup(c.Close)
	return c, log
}

func TestReportAndPullRoundTrip(t *testing.T) {
	h := &fullHistory{fakeHistory: fakeHistory{arenas: []string{"docs"}, progress: 5}, need: true}
	files := []history.Entry{sampleBatch()[0], sampleBatch()[1]}
	h.reply = PullReply{Entries: files, Through: files[1].Index + 10}
	c, _ := fullFixture(t, h)
	ctx := ctxT(t)

	w, err := c.Wants(ctx)
	if err != nil || !w.CatchUp || w.Progress != 5 || len(w.Arenas) != 1 {
		t.Fatalf("wants %+v, %v; want a catch-up asked for", w, err)
	}
	if err := c.Report(ctx, Report{Begin: true, Entries: files}); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(ctx, Report{End: true, Progress: 77}); err != nil {
		t.Fatal(err)
	}
	if len(h.reports) != 2 || !h.reports[0].Begin || len(h.reports[0].Entries) != 2 || !h.reports[1].End || h.reports[1].Progress != 77 {
		t.Fatalf("reports received: %+v", h.reports)
	}
	r, err := c.Pull(ctx, Pull{Arenas: []string{"docs"}, Progress: 3, Wait: time.Second})
	if err != nil || len(r.Entries) != 2 || r.Through != files[1].Index+10 || r.Report != nil {
		t.Fatalf("pull: %+v, %v", r, err)
	}
	if len(h.pulls) != 1 || h.pulls[0].Progress != 3 || h.pulls[0].Wait != time.Second {
		t.Fatalf("pulls received: %+v", h.pulls)
	}
	h.reply = PullReply{Report: &Report{Begin: true, Entries: files, End: true, Progress: 9}}
	r, err = c.Pull(ctx, Pull{Arenas: []string{"docs"}, CatchUp: true})
	if err != nil || r.Report == nil || !r.Report.Begin || !r.Report.End || r.Report.Progress != 9 || len(r.Report.Entries) != 2 {
		t.Fatalf("pull of a report: %+v, %v", r, err)
	}
}

func TestReportAndPullRefuseBadInput(t *testing.T) {
	h := &fullHistory{fakeHistory: fakeHistory{arenas: []string{"docs"}}}
	c, log := fullFixture(t, h)
	ctx := ctxT(t)
	unlink := wire()
	unlink.Kind, unlink.Blob, unlink.Size = realv1.Kind_KIND_UNLINK, nil, 0
	for _, tc := range []struct {
		name  string
		req   *realv1.ReportRequest
		words string
	}{
		{"unlink in report", &realv1.ReportRequest{Notifications: []*realv1.Notification{unlink}}, "files only"},
		{"progress without end", &realv1.ReportRequest{Progress: 3}, "without begin or end"},
		{"bad path", &realv1.ReportRequest{Notifications: []*realv1.Notification{func() *realv1.Notification { n := wire(); n.Path = "../x"; return n }()}}, `"../x"`},
	} {
		_, err := c.history.Report(ctx, connect.NewRequest(tc.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: %v, want invalid_argument mentioning %q", tc.name, err, tc.words)
		}
	}
	for _, tc := range []struct {
		name  string
		req   *realv1.PullRequest
		words string
	}{
		{"bad arena", &realv1.PullRequest{Arenas: []string{"/abs"}}, "arena"},
		{"overlapping arenas", &realv1.PullRequest{Arenas: []string{"a", "a/b"}}, "a/b"},
		{"long wait", &realv1.PullRequest{WaitMs: 31_000}, "wait"},
		{"cursor without report", &realv1.PullRequest{ReportAfter: 4}, "report_after"},
	} {
		_, err := c.history.Pull(ctx, connect.NewRequest(tc.req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: %v, want invalid_argument mentioning %q", tc.name, err, tc.words)
		}
	}
	if len(h.reports) != 0 || len(h.pulls) != 0 {
		t.Fatalf("handler called with bad input: %+v %+v", h.reports, h.pulls)
	}
	if n := len(log.lines("refused request", "peer=laptop")); n != 7 {
		t.Errorf("%d refusal log lines, want one per request (7):\n%s", n, log)
	}
	// A bad reply from the server is refused by the client.
	h.reply = PullReply{Entries: []history.Entry{sampleBatch()[2]}, Through: 1}
	if _, err := c.Pull(ctx, Pull{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pull reply with entries past through: %v, want ErrInvalid", err)
	}
}

func TestPlainHistoryHasNoReportOrPull(t *testing.T) {
	c, _ := fullFixture(t, &fakeHistory{arenas: []string{"docs"}})
	ctx := ctxT(t)
	w, err := c.Wants(ctx)
	if err != nil || w.CatchUp {
		t.Fatalf("wants %+v, %v", w, err)
	}
	if err := c.Report(ctx, Report{Begin: true}); connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("report to a plain History: %v, want unimplemented", err)
	}
}
