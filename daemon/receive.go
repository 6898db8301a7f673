package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/realsync/real/history"
	real "github.com/realsync/real/real"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/unreal"
)

// receiver applies other peers' history to the Unreal cache: batches
// (Notify, or Pull replies) and full reports.
type receiver struct {
	cache *unreal.Cache
	local localSide // told of every applied change, to keep local modifications consistent
	// life ends with the daemon's run (nil: never): the local side of an
	// applied batch is reconciled until then, whatever its caller does.
	life   context.Context
	db     *sql.DB
	arenas []string
	peers  peerSet
	log    *slog.Logger
}

func (r *receiver) peer(name string) *peerState {
	if p, ok := r.peers[name]; ok {
		return p
	}
	return newPeerState(name, "") // not configured: rpc refuses it before
}

// Arenas tells a caller to report every arena this peer has, and from where:
// after our progress, or from nothing (progress 0, and NeedsReport asks for
// a full report) when that progress stands for another history of the
// caller than the one it calls with (its store started over). The progress
// is read under the peer's recvMu, between two batches: a batch stores its
// chain after its progress, and a progress read in between would stand for
// more than the chain ProgressChain hands out next, which the caller takes
// for another history (a full report).
func (r *receiver) Arenas(ctx context.Context, peer string) ([]string, uint64, error) {
	ps := r.peer(peer)
	ps.recvMu.Lock()
	defer ps.recvMu.Unlock()
	same, err := r.sameHistory(ctx, peer, rpc.CallerHistoryID(ctx))
	if err != nil {
		return nil, 0, err
	}
	ps.contact(nil)
	if !same {
		r.log.Info("a peer's history started over (another history id): asking for a full report", "from", peer,
			"history_id", rpc.CallerHistoryID(ctx))
		return r.arenas, 0, nil
	}
	p, err := r.cache.Progress(ctx, peer)
	if err != nil {
		return nil, 0, err
	}
	return r.arenas, p, nil
}

// NeedsReport: our progress stands for another history of the caller, a
// report was cut short, or an arena was added since the peer's progress
// was recorded (its earlier history of that arena was never asked for).
func (r *receiver) NeedsReport(ctx context.Context, peer string) (bool, error) {
	if same, err := r.sameHistory(ctx, peer, rpc.CallerHistoryID(ctx)); err != nil || !same {
		return !same, err
	}
	return r.needsReport(ctx, peer)
}

func (r *receiver) needsReport(ctx context.Context, peer string) (bool, error) {
	if open, err := r.cache.CatchingUp(ctx, peer); err != nil || open {
		return open, err
	}
	p, err := r.cache.Progress(ctx, peer)
	if err != nil {
		return false, err
	}
	if p == 0 { // everything will come from the start
		return false, r.recordArenas(ctx, peer)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT arena FROM daemon_peer_arenas WHERE peer = ?`, peer)
	if err != nil {
		return false, fmt.Errorf("arenas of %s: %w", peer, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return false, fmt.Errorf("arenas of %s: %w", peer, err)
		}
		have[a] = true
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("arenas of %s: %w", peer, err)
	}
	for _, a := range r.arenas {
		if !have[a] {
			r.log.Info("arena added since the last exchange: asking for a full report", "from", peer, "arena", a)
			return true, nil
		}
	}
	return false, nil
}

// forgetArenas forgets, for every peer, the arenas no longer configured: the
// Unreal dropped their files when it opened (unreal.OpenCache), so such an
// arena added back later must come again in a full report, as a new one.
func (r *receiver) forgetArenas(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, `SELECT DISTINCT arena FROM daemon_peer_arenas`)
	if err != nil {
		return fmt.Errorf("arenas of peers: %w", err)
	}
	var gone []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return fmt.Errorf("arenas of peers: %w", err)
		}
		if !slices.Contains(r.arenas, a) {
			gone = append(gone, a)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("arenas of peers: %w", err)
	}
	for _, a := range gone {
		if _, err := r.db.ExecContext(ctx, `DELETE FROM daemon_peer_arenas WHERE arena = ?`, a); err != nil {
			return fmt.Errorf("forget arena %s of peers: %w", a, err)
		}
		r.log.Info("arena no longer configured: a full report will bring it if it is added back", "arena", a)
	}
	return nil
}

// forgetPeers takes out of the Unreal the files of every source peer no
// longer configured (removed from real.toml, or renamed): nothing can read
// them any more. The conversation state kept about it goes too, so a peer
// added back under that name starts from nothing on both sides. It returns
// the changes, for remoteChanged once the local side runs.
func (r *receiver) forgetPeers(ctx context.Context) ([]history.Entry, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT peer FROM unreal_progress UNION SELECT peer FROM unreal_catchup_open
		UNION SELECT peer FROM daemon_resume`)
	if err != nil {
		return nil, fmt.Errorf("peers of the Unreal: %w", err)
	}
	var gone []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("peers of the Unreal: %w", err)
		}
		if _, ok := r.peers[p]; !ok {
			gone = append(gone, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("peers of the Unreal: %w", err)
	}
	var changes []history.Entry
	for _, p := range gone {
		res, err := r.cache.Replace(ctx, p, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("forget peer %s: %w", p, err)
		}
		changes = append(changes, res.Changes...)
		for _, q := range []string{`DELETE FROM daemon_peer_arenas WHERE peer = ?`,
			`DELETE FROM daemon_peer_history WHERE peer = ?`, `DELETE FROM daemon_resume WHERE peer = ?`,
			`DELETE FROM daemon_peer_chain WHERE peer = ?`, `DELETE FROM daemon_report_due WHERE peer = ?`} {
			if _, err := r.db.ExecContext(ctx, q, p); err != nil {
				return nil, fmt.Errorf("forget peer %s: %w", p, err)
			}
		}
		if res.Removed > 0 { // (its progress stays, at 0: no log at every start)
			r.log.Info("peer no longer configured: its files left the Unreal", "peer", p, "removed", res.Removed)
		}
	}
	return changes, nil
}

// recordArenas notes that the peer's progress stands for every configured arena.
func (r *receiver) recordArenas(ctx context.Context, peer string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record arenas of %s: %w", peer, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM daemon_peer_arenas WHERE peer = ?`, peer); err != nil {
		return fmt.Errorf("record arenas of %s: %w", peer, err)
	}
	for _, a := range r.arenas {
		if _, err := tx.ExecContext(ctx, `INSERT INTO daemon_peer_arenas (peer, arena) VALUES (?, ?)`, peer, a); err != nil {
			return fmt.Errorf("record arenas of %s: %w", peer, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record arenas of %s: %w", peer, err)
	}
	return nil
}

// Notify applies a batch in one transaction (unreal.Cache.Apply); entries
// at or below the peer's progress were applied before and are skipped. A
// batch of another history than our progress stands for is refused
// (rpc.ErrChanged): the caller asks Arenas again and reports in full.
func (r *receiver) Notify(ctx context.Context, peer string, batch []history.Entry) (uint64, error) {
	return r.notify(ctx, peer, rpc.CallerHistoryID(ctx), batch, rpc.CallerChain(ctx))
}

// notify is Notify of a batch of peer's history id ("": not checked) that
// brings its chain to chain (keepChain).
func (r *receiver) notify(ctx context.Context, peer, id string, batch []history.Entry, chain rpc.Chain) (uint64, error) {
	ps := r.peer(peer)
	ps.recvMu.Lock()
	defer ps.recvMu.Unlock()
	if same, err := r.sameHistory(ctx, peer, id); err != nil {
		return 0, err
	} else if !same {
		rec, _ := r.peerHistory(ctx, peer)
		return 0, errOtherHistory(peer, id, rec)
	}
	before, err := r.cache.Progress(ctx, peer)
	if err != nil {
		return 0, err
	}
	// The chain first, then the batch (two transactions: the Unreal's
	// and ours): stopped in between, the chain stands for more than the
	// progress, which resumes after the progress; the other way round it
	// would stand for less, and the sender would take that for another
	// history of its own and send a full report. A batch refused puts the
	// chain back.
	var p uint64
	if err := r.chainFirst(ctx, peer, before, chain, func() (err error) {
		p, err = r.cache.Apply(ctx, peer, batch)
		return cacheError(err)
	}); err != nil {
		return 0, err
	}
	var fresh uint64
	for i := range batch {
		if batch[i].Index <= before {
			continue
		}
		fresh++
		r.remoteChanged(ctx, peer, batch[i:i+1])
	}
	ps.received.Add(fresh)
	ps.duplicates.Add(uint64(len(batch)) - fresh)
	ps.contact(nil)
	return p, nil
}

// Report applies one part of a full report (unreal's mark and sweep); at
// its end our progress stands for the caller's history id.
func (r *receiver) Report(ctx context.Context, peer string, rep rpc.Report) error {
	return r.report(ctx, peer, rpc.CallerHistoryID(ctx), rep)
}

// report is Report of a report of peer's history id ("": unknown).
func (r *receiver) report(ctx context.Context, peer, id string, rep rpc.Report) error {
	ps := r.peer(peer)
	ps.recvMu.Lock()
	defer ps.recvMu.Unlock()
	// The parts of one report must come from one history of the peer: a
	// part under another history id than its Begin's would mix two
	// histories in the mark and sweep. A puller checks this itself and
	// takes the report again (puller.session). Pushed to us (Report calls)
	// it cannot happen in practice: a sender's history id is read once per
	// process, and a store that starts over is a new process whose sender
	// starts a new session, and a session's report always opens with a
	// Begin (sender.sendReport), which discards what was staged. Only two
	// processes of the same key at once could interleave their parts; the
	// later part is refused (ErrChanged), so that the caller asks Arenas
	// again, and the report still open makes NeedsReport ask it for a full
	// report. A report begun before this process started is not known
	// here and not checked: parts after our restart still come from the
	// sender's same session (its client dials again), so the same history.
	if rep.Begin {
		r.log.Info("full report from a peer begins", "from", peer, "stands_for", rep.Progress)
		if err := r.cache.BeginCatchUp(ctx, peer); err != nil {
			return cacheError(err)
		}
		ps.reportID, ps.reportOpen = id, true
	} else if ps.reportOpen && id != ps.reportID {
		r.log.Info("a part of a full report under another history id than its beginning: refused", "from", peer,
			"history_id", id, "report_of", ps.reportID)
		return fmt.Errorf("%w: a part of a report of %s under history %q, begun under history %q: the report must start over",
			rpc.ErrChanged, peer, id, ps.reportID)
	}
	if len(rep.Entries) > 0 {
		if err := r.cache.CatchUpReport(ctx, peer, rep.Entries); err != nil {
			return cacheError(err)
		}
		ps.received.Add(uint64(len(rep.Entries)))
	}
	if rep.End {
		// The chain first, as for a batch (notify): stopped before the
		// end is applied, the catch-up is still open and asks for a
		// report again; the other way round the chain would stand for
		// less than the progress (a full report more too, but after
		// one that was complete).
		var res unreal.CatchUpResult
		if err := r.chainFirst(ctx, peer, rep.Progress, rep.Chain, func() (err error) {
			res, err = r.cache.EndCatchUp(ctx, peer, rep.Progress)
			return cacheError(err)
		}); err != nil {
			return err
		}
		if err := r.recordArenas(ctx, peer); err != nil {
			return err
		}
		if err := r.adoptHistory(ctx, peer, id); err != nil {
			return err
		}
		// As after a batch: local modifications under the changed paths.
		r.remoteChanged(ctx, peer, res.Changes)
		ps.reportOpen = false
		ps.reportsRecv.Add(1)
		r.log.Info("full report from a peer applied", "from", peer, "progress", rep.Progress,
			"added", res.Added, "changed", res.Changed, "removed", res.Removed)
	}
	ps.contact(nil)
	return nil
}

// localSide is the part of real.Real a receiver tells of remote changes.
type localSide interface {
	RemoteChanged(ctx context.Context, e history.Entry) error
}

var _ localSide = (*real.Real)(nil)

// remoteChanged brings a local modification under each changed path (a
// metacopy, a local version, a whiteout) in line, or records a conflict.
// The changes are applied already (a caller that retries skips them), so
// a caller giving up (cancelled, timed out, killed) does not stop it; the
// daemon's stop does (the next start's catch-up finishes it).
func (r *receiver) remoteChanged(ctx context.Context, peer string, changes []history.Entry) {
	if r.local == nil || len(changes) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if r.life != nil {
		defer context.AfterFunc(r.life, cancel)()
	}
	for _, e := range changes {
		if err := r.local.RemoteChanged(ctx, e); err != nil {
			r.log.Error("reconciling a remote change with the local state", "from", peer, "arena", e.Arena, "path", e.Path, "err", err)
		}
	}
}

// cacheError maps the cache's refusals to the protocol's sentinels.
func cacheError(err error) error {
	switch {
	case errors.Is(err, unreal.ErrUnknownArena):
		return fmt.Errorf("%w: %v", rpc.ErrUnknownArena, err)
	case errors.Is(err, unreal.ErrBadIndex), errors.Is(err, unreal.ErrBadEntry):
		return fmt.Errorf("%w: %v", rpc.ErrInvalid, err)
	case errors.Is(err, unreal.ErrNoCatchUp):
		return fmt.Errorf("%w: a report part without its beginning: %v", rpc.ErrInvalid, err)
	}
	return err
}
