package daemon

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/realsync/real/rpc"
)

// History ids (rpc.CheckHistoryID): this peer's is drawn once per real.db
// (daemon_history), at the first start of the daemon on it, and sent with
// every Arenas, Notify and Report and every Pull reply. A receiver keeps,
// with its progress of a peer, the id that progress stands for
// (daemon_peer_history); a progress recorded under another id stands for
// nothing: it asks for a full report (mark and sweep), after which it has
// exactly the view of the peer's new history.

// historyID returns this store's history id, drawing it on first use.
func historyID(ctx context.Context, db *sql.DB) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	if _, err := db.ExecContext(ctx, `INSERT INTO daemon_history (id, history_id) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`,
		hex.EncodeToString(b[:])); err != nil {
		return "", fmt.Errorf("history id: %w", err)
	}
	var id string
	if err := db.QueryRowContext(ctx, `SELECT history_id FROM daemon_history WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("history id: %w", err)
	}
	if err := rpc.CheckHistoryID(id); err != nil || id == "" {
		return "", fmt.Errorf("history id in daemon_history: %q: %w", id, err)
	}
	return id, nil
}

// peerHistory returns the history id of peer that our progress of it
// stands for ("": none recorded).
func (r *receiver) peerHistory(ctx context.Context, peer string) (string, error) {
	var id string
	err := r.db.QueryRowContext(ctx, `SELECT history_id FROM daemon_peer_history WHERE peer = ?`, peer).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("history id of %s: %w", peer, err)
	}
	return id, nil
}

// adoptHistory records that our progress of peer stands for its history
// id ("": unknown, a peer that sends none). Call it after the progress is
// stored: a crash in between then costs one more full report, not entries.
func (r *receiver) adoptHistory(ctx context.Context, peer, id string) error {
	var err error
	if id == "" {
		_, err = r.db.ExecContext(ctx, `DELETE FROM daemon_peer_history WHERE peer = ?`, peer)
	} else {
		_, err = r.db.ExecContext(ctx, `INSERT INTO daemon_peer_history (peer, history_id) VALUES (?, ?)
			ON CONFLICT (peer) DO UPDATE SET history_id = excluded.history_id`, peer, id)
	}
	if err != nil {
		return fmt.Errorf("record history id of %s: %w", peer, err)
	}
	return nil
}

// sameHistory tells whether our progress of peer stands for its history
// id: yes when id is "" (a peer that sends none: not checked), when it is
// the recorded one, or when there is no progress (then id is adopted). A
// progress without a recorded id (kept from before history ids) is taken
// for another history too: one full report settles it.
func (r *receiver) sameHistory(ctx context.Context, peer, id string) (bool, error) {
	if id == "" {
		return true, nil
	}
	rec, err := r.peerHistory(ctx, peer)
	if err != nil || rec == id {
		return err == nil, err
	}
	p, err := r.cache.Progress(ctx, peer)
	if err != nil {
		return false, err
	}
	if p == 0 {
		return true, r.adoptHistory(ctx, peer, id)
	}
	return false, nil
}

// errOtherHistory refuses a batch of a history our progress does not stand for.
func errOtherHistory(peer, id, rec string) error {
	if rec == "" {
		rec = "none recorded"
	}
	return fmt.Errorf("%w: a batch of history %s of %s, our progress stands for another history (%s): a full report is needed first",
		rpc.ErrChanged, id, peer, rec)
}
