package daemon

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/rpc"
)

// source is the sending side of this peer's history, shared by the push
// senders and the Pull handler: where a peer resumes, full reports, and
// trimming.
//
// Trimming: once every configured peer acknowledged the history up to T,
// the entries up to T are folded into daemon_base (the files they leave this
// peer with) and deleted from index_history, in one transaction. A peer
// whose progress is below the trimmed index (or above our last one: our
// store started again) gets a full report instead: base plus the history
// after it, folded, which is the same state the whole history would give.
type source struct {
	ix    *index.Index
	db    *sql.DB
	peers peerSet
	log   *slog.Logger
	id    string          // our history id (historyID), sent with every Pull reply
	own   map[string]bool // the arenas we share (own_arenas.go); nil: all

	// mu: trimming (write) against reading history or a report (read),
	// so a reader never sees an entry both in base and history, or in none.
	mu       sync.RWMutex
	lastTrim time.Time // guarded by mu

	chainPiece int // entries chainAt folds at a time; 0: defaultChainPiece
}

// Trimming is lazy: a trim folds and deletes in one write transaction, so
// it runs at most every trimEvery, unless trimAtLeast entries are ready to
// go (a burst then does not trim after every batch).
const (
	trimEvery   = 2 * time.Second
	trimAtLeast = 10_000
)

// trimmed returns the index up to which history was trimmed.
func (s *source) trimmed(ctx context.Context) (uint64, error) {
	var t int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce((SELECT through FROM daemon_trim WHERE id = 1), 0)`).Scan(&t)
	if err != nil {
		return 0, fmt.Errorf("trimmed history: %w", err)
	}
	return uint64(t), nil
}

// last returns the index of the last entry of our history.
func (s *source) last(ctx context.Context) (uint64, error) {
	l, err := s.ix.Last(ctx)
	if err != nil {
		return 0, err
	}
	t, err := s.trimmed(ctx)
	return max(l, t), err
}

// needsReport tells whether a peer at progress can only be brought up to
// date by a full report. Call with s.mu held.
func (s *source) needsReport(ctx context.Context, asked bool, progress uint64) (bool, error) {
	if asked {
		return true, nil
	}
	t, err := s.trimmed(ctx)
	if err != nil {
		return false, err
	}
	l, err := s.last(ctx)
	if err != nil {
		return false, err
	}
	return progress < t || progress > l, nil
}

// start decides how a session with a peer at progress begins: with a full
// report (report true, standing for index rp), or with history after
// resume (progress, or later when the entries after it were none of the
// peer's arenas: daemon_resume), which is then recorded as the peer's
// acknowledgement (so that trimming never passes it). chain is the one the
// peer's progress stands for: another history of ours there asks for a
// report too (otherChain).
func (s *source) start(ctx context.Context, peer string, arenas []string, asked bool, progress uint64, chain rpc.Chain) (report bool, rp, resume uint64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !asked {
		if asked, err = s.reportDue(ctx, peer); err != nil {
			return false, 0, 0, err
		}
	}
	if _, resume, err = s.resumeAt(ctx, peer, arenas, progress); err != nil {
		return false, 0, 0, err
	}
	report, err = s.needsReport(ctx, asked, resume)
	if err == nil && !report {
		report, err = s.otherChain(ctx, peer, progress, chain)
	}
	if err != nil || report {
		if err == nil {
			rp, err = s.last(ctx)
		}
		return report, rp, 0, err
	}
	return false, 0, resume, s.ix.SetAcked(ctx, peer, resume)
}

// resumeAt returns where a peer that says it is at progress stands: its
// progress as the peer keeps it (base) and the index of our history after
// which it needs entries (resume, at least progress). progress may be
// either end of the recorded pair (a puller goes on from the Through of our
// last reply). The record holds only while the peer wants no arena it did
// not want when it was written (arenas: what it wants now).
func (s *source) resumeAt(ctx context.Context, peer string, arenas []string, progress uint64) (base, resume uint64, err error) {
	var p, t int64
	var had string
	err = s.db.QueryRowContext(ctx, `SELECT progress, through, arenas FROM daemon_resume WHERE peer = ?`, peer).Scan(&p, &t, &had)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return progress, progress, nil
	case err != nil:
		return 0, 0, fmt.Errorf("resume point of %s: %w", peer, err)
	}
	var took []string
	if had != "" {
		if err := json.Unmarshal([]byte(had), &took); err != nil {
			return 0, 0, fmt.Errorf("resume point of %s: arenas %q: %w", peer, had, err)
		}
	}
	for _, a := range arenas {
		if !slices.Contains(took, a) { // a new arena: entries of it after progress were never sent
			return progress, progress, nil
		}
	}
	if (uint64(p) == progress || uint64(t) == progress) && t >= p {
		return uint64(p), max(progress, uint64(t)), nil
	}
	return progress, progress, nil
}

// setResume records that the peer, at progress, has everything of our
// history it wants (arenas) through through.
func (s *source) setResume(ctx context.Context, peer string, arenas []string, progress, through uint64) error {
	took, err := json.Marshal(arenas)
	if err != nil {
		return fmt.Errorf("record resume point of %s: %w", peer, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO daemon_resume (peer, progress, through, arenas) VALUES (?, ?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET progress = excluded.progress, through = excluded.through, arenas = excluded.arenas`,
		peer, int64(progress), int64(max(progress, through)), string(took))
	if err != nil {
		return fmt.Errorf("record resume point of %s: %w", peer, err)
	}
	return nil
}

// report returns up to limit files of the full report for arenas with an
// index above after, in index order, and whether they are the last ones.
// It folds base and all the history after it: the cost is one pass over
// both per call (fine for stores of some 100,000 files).
func (s *source) report(ctx context.Context, arenas []string, after uint64, limit int) ([]history.Entry, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	want := map[string]bool{}
	for _, a := range arenas {
		want[a] = true
	}
	type key struct{ arena, path string }
	state := map[key]history.Entry{}
	rows, err := s.db.QueryContext(ctx, `SELECT arena, path, idx, kind, mtime_ns, size, blob, prev_blob FROM daemon_base`)
	if err != nil {
		return nil, false, fmt.Errorf("report: %w", err)
	}
	for rows.Next() {
		e, err := scanBase(rows)
		if err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("report: %w", err)
		}
		state[key{e.Arena, e.Path}] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("report: %w", err)
	}
	t, err := s.trimmed(ctx)
	if err != nil {
		return nil, false, err
	}
	for from := t; ; {
		es, err := s.ix.Since(ctx, from, 10_000)
		if err != nil {
			return nil, false, fmt.Errorf("report: %w", err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Kind.HasContent() {
				state[key{e.Arena, e.Path}] = e
			} else {
				delete(state, key{e.Arena, e.Path})
			}
		}
		from = es[len(es)-1].Index
	}
	var out []history.Entry
	for _, e := range state {
		if want[e.Arena] && e.Index > after {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b history.Entry) int { return cmp.Compare(a.Index, b.Index) })
	if len(out) > limit {
		return out[:limit], false, nil
	}
	return out, true, nil
}

func scanBase(rows *sql.Rows) (history.Entry, error) {
	var e history.Entry
	var idx, mt int64
	var b, pb []byte
	if err := rows.Scan(&e.Arena, &e.Path, &idx, &e.Kind, &mt, &e.Size, &b, &pb); err != nil {
		return e, err
	}
	e.Index = uint64(idx)
	if mt != 0 {
		e.Mtime = time.Unix(0, mt)
	}
	var err error
	if e.Blob, err = blob.FromBytes(b); err != nil {
		return e, fmt.Errorf("base %s/%s: %w", e.Arena, e.Path, err)
	}
	if e.PrevBlob, err = blob.FromBytes(pb); err != nil {
		return e, fmt.Errorf("base %s/%s: %w", e.Arena, e.Path, err)
	}
	return e, nil
}

// trim folds and deletes the history every configured peer acknowledged
// (all of it when there is none: a peer pinned later gets a full report),
// keeping the last entry (so the history's last index stays visible).
func (s *source) trim(ctx context.Context) (waiting bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Read under the lock: a session's start may lower a peer's
	// acknowledgement (its store went back) and then read history from
	// there, so a value read before could trim what it is about to send.
	minAcked := uint64(1<<63 - 1)
	for name := range s.peers {
		a, err := s.ix.Acked(ctx, name)
		if err != nil {
			return false, err
		}
		minAcked = min(minAcked, a)
	}
	t, err := s.trimmed(ctx)
	if err != nil {
		return false, err
	}
	l, err := s.ix.Last(ctx)
	if err != nil {
		return false, err
	}
	to := min(minAcked, l-min(l, 1))
	if to <= t {
		return false, nil
	}
	if to-t < trimAtLeast && time.Since(s.lastTrim) < trimEvery {
		return true, nil // later: the caller comes back within trimEvery
	}
	s.lastTrim = time.Now()
	chain, ok, err := s.chainAt(ctx, to) // kept at the trim point: the chain goes on from it
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("trim history: no chain value at %d", to)
	}
	var entries []history.Entry
	for from := t; from < to; {
		es, err := s.ix.Since(ctx, from, 10_000)
		if err != nil {
			return false, err
		}
		for _, e := range es {
			if e.Index <= to {
				entries = append(entries, e)
			}
		}
		if len(es) == 0 {
			break
		}
		from = es[len(es)-1].Index
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("trim history: %w", err)
	}
	defer tx.Rollback()
	for _, e := range entries {
		if e.Kind.HasContent() {
			var mt int64
			if !e.Mtime.IsZero() {
				mt = e.Mtime.UnixNano()
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO daemon_base (arena, path, idx, kind, mtime_ns, size, blob, prev_blob)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arena, path) DO UPDATE SET idx = excluded.idx, kind = excluded.kind,
				mtime_ns = excluded.mtime_ns, size = excluded.size, blob = excluded.blob, prev_blob = excluded.prev_blob`,
				e.Arena, e.Path, int64(e.Index), e.Kind, mt, e.Size, e.Blob.Bytes(), e.PrevBlob.Bytes())
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM daemon_base WHERE arena = ? AND path = ?`, e.Arena, e.Path)
		}
		if err != nil {
			return false, fmt.Errorf("trim history: fold entry %d: %w", e.Index, err)
		}
	}
	// The fold above commits with the delete.
	if err := index.TrimTx(ctx, tx, to); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM daemon_chain WHERE idx <= ?`, int64(to)); err != nil {
		return false, fmt.Errorf("trim history: chain values: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO daemon_trim (id, through, chain) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET through = excluded.through, chain = excluded.chain`, int64(to), chain.Bytes()); err != nil {
		return false, fmt.Errorf("trim history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("trim history: %w", err)
	}
	s.log.Info("history trimmed", "through", to, "entries", len(entries))
	return false, nil
}

// trimLoop trims every trimEvery until ctx is done, for peers that only
// pull (the senders trim when they are idle, and such a peer has none),
// and for a peer alone (no peers pinned).
func (s *source) trimLoop(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.trim(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("trimming history", "err", err)
		}
	}
}

// Pull answers a peer that cannot be called (rpc.Source): the next step
// our sender would have sent it. A caller whose progress stands for another
// history id than ours (our store started over) gets a full report.
func (s *source) Pull(ctx context.Context, peer string, p rpc.Pull) (rpc.PullReply, error) {
	if p.HistoryID != "" && p.HistoryID != s.id {
		s.log.Info("a peer's progress stands for another history of ours: a full report", "peer", peer,
			"its_history_id", p.HistoryID, "history_id", s.id)
		p.CatchUp = true
	}
	r, err := s.pull(ctx, peer, p)
	r.HistoryID = s.id
	return r, err
}

func (s *source) pull(ctx context.Context, peer string, p rpc.Pull) (rpc.PullReply, error) {
	ps, ok := s.peers[peer]
	if !ok {
		return rpc.PullReply{}, fmt.Errorf("%w: %s is not a configured peer", rpc.ErrInvalid, peer)
	}
	p.Arenas = s.ours(p.Arenas)
	ps.contact(nil)
	if ps.isPushing() {
		// Our sender reaches the peer; if the peer's state is not what
		// the session believes (it restarted, lost state, wants a report),
		// the session starts over and asks it again.
		acked, err := s.ix.Acked(ctx, peer)
		if err != nil {
			return rpc.PullReply{}, err
		}
		_, at, err := s.resumeAt(ctx, peer, p.Arenas, p.Progress)
		if err != nil {
			return rpc.PullReply{}, err
		}
		if p.CatchUp || at != acked {
			ps.restart()
		}
		return rpc.PullReply{Pushing: true}, nil
	}
	if p.ReportProgress != 0 { // a report in progress
		return s.pullReport(ctx, ps, p.Arenas, p.ReportAfter, false, p.ReportProgress)
	}
	base, _, err := s.resumeAt(ctx, peer, p.Arenas, p.Progress)
	if err != nil {
		return rpc.PullReply{}, err
	}
	report, rp, resume, err := s.start(ctx, peer, p.Arenas, p.CatchUp, p.Progress, p.Chain)
	if err != nil {
		return rpc.PullReply{}, err
	}
	if report {
		if err := s.setResume(ctx, peer, p.Arenas, rp, rp); err != nil {
			return rpc.PullReply{}, err
		}
		return s.pullReport(ctx, ps, p.Arenas, 0, true, rp)
	}
	want := map[string]bool{}
	for _, a := range p.Arenas {
		want[a] = true
	}
	var wait <-chan time.Time
	for {
		changed := s.ix.Changed()
		entries, err := s.ix.Since(ctx, resume, BatchSize)
		if err != nil {
			return rpc.PullReply{}, err
		}
		if len(entries) > 0 {
			reply := rpc.PullReply{Through: entries[len(entries)-1].Index}
			has := base // the peer's progress once it applied the reply
			for _, e := range entries {
				if want[e.Arena] {
					reply.Entries = append(reply.Entries, e)
					has = e.Index
				}
			}
			if reply.Chain, err = s.chainOfBatch(ctx, resume, entries); err != nil {
				return rpc.PullReply{}, err
			}
			if !ps.handOut(reply.Through) { // our sender came up meanwhile: it sends these
				return rpc.PullReply{Pushing: true}, nil
			}
			if err := s.setResume(ctx, peer, p.Arenas, has, reply.Through); err != nil {
				return rpc.PullReply{}, err
			}
			ps.sent.Add(uint64(len(reply.Entries)))
			return reply, nil
		}
		if wait == nil {
			if p.Wait <= 0 {
				return s.pullIdle(ctx, resume)
			}
			timer := time.NewTimer(p.Wait)
			defer timer.Stop()
			wait = timer.C
		}
		select {
		case <-ctx.Done():
			return rpc.PullReply{}, ctx.Err()
		case <-wait:
			return s.pullIdle(ctx, resume)
		case <-changed:
		}
		if ps.isPushing() { // our sender got through meanwhile: it sends this
			return rpc.PullReply{Pushing: true}, nil
		}
	}
}

// pullIdle is the reply of a Pull with no news: the peer stays after resume.
func (s *source) pullIdle(ctx context.Context, resume uint64) (rpc.PullReply, error) {
	c, err := s.chainOf(ctx, resume)
	return rpc.PullReply{Through: resume, Chain: c}, err
}

func (s *source) pullReport(ctx context.Context, ps *peerState, arenas []string, after uint64, begin bool, rp uint64) (rpc.PullReply, error) {
	entries, done, err := s.report(ctx, arenas, after, BatchSize)
	if err != nil {
		return rpc.PullReply{}, err
	}
	ps.sent.Add(uint64(len(entries)))
	if done {
		ps.reportsSent.Add(1)
		if err := s.reportSent(ctx, ps.name); err != nil {
			return rpc.PullReply{}, err
		}
	}
	r := &rpc.Report{Begin: begin, Entries: entries, End: done}
	if begin || done {
		r.Progress = rp
	}
	if done {
		if r.Chain, err = s.chainOf(ctx, rp); err != nil {
			return rpc.PullReply{}, err
		}
	}
	return rpc.PullReply{Report: r}, nil
}

// Trimmed returns the index up to which the store's history was trimmed
// (0: never), for readers of a store whose peer does not run.
func Trimmed(ctx context.Context, db *sql.DB) (uint64, error) {
	var t int64
	err := db.QueryRowContext(ctx, `SELECT through FROM daemon_trim WHERE id = 1`).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("trimmed history: %w", err)
	}
	return uint64(t), nil
}
