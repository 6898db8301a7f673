package rpc

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// stallPiece is the most bytes one watched write hands to net/http: a
// larger reply (a Tree of up to MaxTree) goes in pieces, so that a slow
// reader that keeps taking it in is told from one that stopped.
const stallPiece = 1 << 20

// stallWriter abandons a reply the peer stopped taking in. A peer that
// answers HTTP/2 pings but never opens its flow-control window would block
// the handler's write for ever, holding a goroutine and an open Content:
// every write (and flush) that has not returned after timeout resets the
// stream (http.ResponseController.SetWriteDeadline in the past, which
// HTTP/2 applies to the stream alone), so the write fails, the handler
// returns and closes its Content. The time between writes (a slow ReadAt, a
// Tree being hashed) is not bounded here.
type stallWriter struct {
	*refusalWriter
	rc        *http.ResponseController // of net/http's own writer
	timeout   time.Duration
	log       *slog.Logger
	peer, rpc string

	timer *time.Timer // fires check while a write is in progress

	mu      sync.Mutex
	writing bool      // a write is in progress (mu)
	since   time.Time // when it began (mu)
	over    bool      // the handler returned: rc may not be used (mu)
	stalled bool      // the stream was abandoned (mu)
}

func newStallWriter(w *refusalWriter, rc *http.ResponseController, timeout time.Duration, log *slog.Logger, peer, rpc string) *stallWriter {
	s := &stallWriter{refusalWriter: w, rc: rc, timeout: timeout, log: log, peer: peer, rpc: rpc}
	s.timer = time.AfterFunc(time.Hour, s.check)
	s.timer.Stop()
	return s
}

// begin marks a write in progress.
func (s *stallWriter) begin() {
	s.mu.Lock()
	s.writing, s.since = true, time.Now()
	s.mu.Unlock()
	s.timer.Reset(s.timeout)
}

// end marks the write done.
func (s *stallWriter) end() {
	s.timer.Stop()
	s.mu.Lock()
	s.writing = false
	s.mu.Unlock()
}

// check runs when a write may have taken timeout: it abandons the stream if
// one has (a later write may have begun since the timer was set).
func (s *stallWriter) check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.writing || s.over || s.stalled {
		return
	}
	if left := s.timeout - time.Since(s.since); left > 0 {
		s.timer.Reset(left)
		return
	}
	s.stalled = true
	s.log.Warn("rpc: peer stalled: it took no reply bytes in for too long; stream abandoned",
		"peer", s.peer, "procedure", s.rpc, "stall_timeout", s.timeout)
	// The handler is inside a write, so net/http's writer is still its
	// own; a deadline in the past resets the stream at once.
	if err := s.rc.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		s.log.Debug("rpc: write deadline", "peer", s.peer, "procedure", s.rpc, "err", err)
	}
}

// done is called when the handler returned.
func (s *stallWriter) done() {
	s.timer.Stop()
	s.mu.Lock()
	s.over = true
	s.mu.Unlock()
}

func (s *stallWriter) Write(p []byte) (int, error) {
	var n int
	for {
		piece := p[n:min(len(p), n+stallPiece)]
		s.begin()
		m, err := s.refusalWriter.Write(piece)
		s.end()
		n += m
		if err != nil || n >= len(p) {
			return n, err
		}
	}
}

// Flush lets Connect stream replies; it waits for the peer's window too.
func (s *stallWriter) Flush() {
	s.begin()
	s.refusalWriter.Flush()
	s.end()
}

// Unwrap serves http.ResponseController.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.refusalWriter }
