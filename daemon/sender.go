package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/realsync/real/index"
	"github.com/realsync/real/rpc"
)

// BatchSize is how many history entries one Notify carries at most.
const BatchSize = 1000

// Timing of the conversation with a peer.
const (
	refresh     = 30 * time.Second // how often an idle sender asks the peer again which arenas it wants
	callTimeout = 2 * time.Minute  // one Arenas, Notify or Report call
	firstRetry  = 100 * time.Millisecond
	maxRetry    = 10 * time.Second
	// handover: how recent a Pull reply must be for a new session to wait
	// (at most that long) until the peer applied it, instead of sending
	// the same entries again; handoverPoll: how often it asks meanwhile.
	handover     = 3 * time.Second
	handoverPoll = 50 * time.Millisecond
)

// sender sends this peer's history to one other peer: it asks which arenas
// the peer wants and from which index on (the receiver's stored progress is
// the truth, so a receiver that lost its state gets everything again), then
// sends batches as history grows, or a full report when the peer asks for
// one or its part of the history was trimmed. Each call has a timeout, so
// a stalled peer holds up only its own sender. Failures back off
// exponentially with jitter.
type sender struct {
	peer   *peerState
	client *rpc.Client
	ix     *index.Index
	src    *source
	log    *slog.Logger
}

func (s *sender) run(ctx context.Context) {
	retry(ctx, s.log, s.session)
}

// retry runs session until ctx is done, waiting between failed sessions
// with exponential backoff and jitter; a session that connected resets it.
// A failure is logged once: the same error again (a peer refusing the same
// batch, or still down) goes to Debug.
func retry(ctx context.Context, log *slog.Logger, session func(context.Context) (bool, error)) {
	backoff := firstRetry
	var last string
	for ctx.Err() == nil {
		connected, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = firstRetry
		}
		if errors.Is(err, errRefresh) {
			continue
		}
		d := backoff/2 + rand.N(backoff/2+1)
		level, msg := slog.LevelInfo, "peer not reachable; retrying"
		if errors.Is(err, rpc.ErrInvalid) || errors.Is(err, rpc.ErrUnknownArena) {
			level, msg = slog.LevelWarn, "peer refused our request; retrying"
		} else if errors.Is(err, rpc.ErrChanged) {
			msg = "peer refused our request (its state changed); starting over"
		}
		if text := fmt.Sprint(err); text == last {
			level = slog.LevelDebug
		} else {
			last = text
		}
		log.Log(ctx, level, msg, "err", err, "in", d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		backoff = min(backoff*2, maxRetry)
	}
}

// errRefresh ends an idle session so that the next one asks Arenas again.
var errRefresh = errors.New("refresh arenas")

// call runs f with the call timeout and records the outcome.
func (s *sender) call(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := f(cctx)
	if ctx.Err() == nil {
		s.peer.contact(err)
	}
	return err
}

// session sends until an error, a refresh or ctx is done. connected reports
// whether the peer answered at all.
func (s *sender) session(ctx context.Context) (connected bool, err error) {
	defer s.peer.setPushing(false)
	var w rpc.Wants
	if err := s.call(ctx, func(ctx context.Context) (err error) { w, err = s.client.Wants(ctx); return err }); err != nil {
		return false, err
	}
	w.Arenas = s.src.ours(w.Arenas) // what it asks for of what we share
	if pulled, at := s.peer.startPushing(); pulled > w.Progress && time.Since(at) < handover {
		if w, err = s.awaitPulled(ctx, w, pulled, at.Add(handover)); err != nil {
			return true, err
		}
	}
	want := make(map[string]bool, len(w.Arenas))
	for _, a := range w.Arenas {
		want[a] = true
	}
	report, rp, after, err := s.src.start(ctx, s.peer.name, w.Arenas, w.CatchUp, w.Progress, w.Chain)
	if err != nil {
		return true, err
	}
	has := w.Progress // the peer's own progress: entries it does not want leave it behind after
	if report {
		if err := s.sendReport(ctx, w.Arenas, rp); err != nil {
			return true, err
		}
		if err := s.src.reportSent(ctx, s.peer.name); err != nil {
			return true, err
		}
		after, has = rp, rp
		if err := s.ix.SetAcked(ctx, s.peer.name, after); err != nil {
			return true, err
		}
		if err := s.src.setResume(ctx, s.peer.name, w.Arenas, has, after); err != nil {
			return true, err
		}
	}
	s.log.Debug("connected", "arenas", w.Arenas, "resume_after", after, "report", report)
	asked := time.Now()
	for {
		changed := s.ix.Changed()
		entries, err := s.ix.Since(ctx, after, BatchSize)
		if err != nil {
			return true, err
		}
		if len(entries) == 0 {
			wait := refresh
			if later, err := s.src.trim(ctx); err != nil {
				s.log.Warn("trimming history", "err", err)
			} else if later {
				wait = trimEvery
			}
			if time.Since(asked) > refresh {
				return true, errRefresh
			}
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case <-changed:
			case <-s.peer.kick:
				return true, errRefresh
			case <-time.After(wait):
			}
			continue
		}
		batch := entries[:0:0]
		for _, e := range entries {
			if want[e.Arena] {
				batch = append(batch, e)
			}
		}
		last := entries[len(entries)-1].Index
		chain, err := s.src.chainOfBatch(ctx, after, entries)
		if err != nil {
			return true, err
		}
		// An empty batch (entries of arenas the peer does not take) still
		// moves its chain on, so that it stays at or above what it acknowledged.
		if len(batch) > 0 || !chain.IsZero() {
			var got uint64
			if err := s.call(ctx, func(ctx context.Context) (err error) { got, err = s.client.NotifyAt(ctx, batch, chain); return err }); err != nil {
				return true, err
			}
			s.peer.sent.Add(uint64(len(batch)))
			has = got
			s.log.Debug("sent", "entries", len(batch), "through", last, "peer_progress", got)
			// The peer has more than this batch (a Pull reply of ours
			// crossed it): go on after that, within our history.
			if got > last {
				if l, err := s.src.last(ctx); err == nil && got <= l {
					last = got
				}
			}
		}
		after = last
		if err := s.ix.SetAcked(ctx, s.peer.name, after); err != nil {
			return true, err
		}
		if err := s.src.setResume(ctx, s.peer.name, w.Arenas, has, after); err != nil {
			return true, err
		}
	}
}

// awaitPulled asks the peer again until its progress reaches pulled (a
// Pull reply handed it those entries just before this session came up,
// and it is applying them), or until deadline; it returns the last answer.
func (s *sender) awaitPulled(ctx context.Context, w rpc.Wants, pulled uint64, deadline time.Time) (rpc.Wants, error) {
	for time.Now().Before(deadline) {
		if _, at, err := s.src.resumeAt(ctx, s.peer.name, w.Arenas, w.Progress); err != nil {
			return w, err
		} else if at >= pulled {
			break
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(handoverPoll):
		}
		if err := s.call(ctx, func(ctx context.Context) (err error) { w, err = s.client.Wants(ctx); return err }); err != nil {
			return w, err
		}
		w.Arenas = s.src.ours(w.Arenas)
	}
	s.log.Debug("a pull reply was on its way at the start of the session", "pulled", pulled, "progress", w.Progress)
	return w, nil
}

// sendReport sends a full report standing for history up to rp.
func (s *sender) sendReport(ctx context.Context, arenas []string, rp uint64) error {
	s.log.Info("sending a full report", "stands_for", rp)
	var cursor uint64
	for first := true; ; first = false {
		entries, done, err := s.src.report(ctx, arenas, cursor, BatchSize)
		if err != nil {
			return err
		}
		r := rpc.Report{Begin: first, Entries: entries, End: done}
		if first || done {
			r.Progress = rp
		}
		if done {
			if r.Chain, err = s.src.chainOf(ctx, rp); err != nil {
				return err
			}
		}
		if err := s.call(ctx, func(ctx context.Context) error { return s.client.Report(ctx, r) }); err != nil {
			return err
		}
		s.peer.sent.Add(uint64(len(entries)))
		if done {
			s.peer.reportsSent.Add(1)
			return nil
		}
		cursor = entries[len(entries)-1].Index
	}
}
