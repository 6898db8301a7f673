package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Our own arenas (real.toml) decide what we share: history and full reports
// carry only their entries, whatever arenas a peer asks for, and the store
// service refuses the others. When they change between two runs, every
// peer is due a full report (daemon_report_due): an arena taken out must
// leave their view (the mark and sweep removes its files), one put back
// brings its files that no later history names.

// ours returns the arenas of arenas that we share, in their order (all of
// them when s.own is nil: a source made by a test).
func (s *source) ours(arenas []string) []string {
	if s.own == nil {
		return arenas
	}
	out := make([]string, 0, len(arenas))
	for _, a := range arenas {
		if s.own[a] {
			out = append(out, a)
		}
	}
	return out
}

// recordOwnArenas records arenas as the ones we share, and makes a full
// report due to every configured peer when they differ from those of the
// last start (a store that recorded none yet only records them).
func (s *source) recordOwnArenas(ctx context.Context, arenas []string) error {
	sorted := slices.Sorted(slices.Values(arenas))
	now, err := json.Marshal(sorted)
	if err != nil {
		return fmt.Errorf("record own arenas: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record own arenas: %w", err)
	}
	defer tx.Rollback()
	var had string
	err = tx.QueryRowContext(ctx, `SELECT arenas FROM daemon_own_arenas WHERE id = 1`).Scan(&had)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("record own arenas: %w", err)
	default:
		var before []string
		if err := json.Unmarshal([]byte(had), &before); err != nil {
			return fmt.Errorf("record own arenas: stored %q: %w", had, err)
		}
		slices.Sort(before)
		if !slices.Equal(before, sorted) {
			s.log.Info("the arenas shared changed since the last start: every peer gets a full report",
				"before", before, "now", sorted)
			for name := range s.peers {
				if _, err := tx.ExecContext(ctx, `INSERT INTO daemon_report_due (peer) VALUES (?) ON CONFLICT DO NOTHING`, name); err != nil {
					return fmt.Errorf("record own arenas: %w", err)
				}
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO daemon_own_arenas (id, arenas) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET arenas = excluded.arenas`, string(now)); err != nil {
		return fmt.Errorf("record own arenas: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record own arenas: %w", err)
	}
	return nil
}

// reportDue tells whether peer is due a full report (recordOwnArenas).
func (s *source) reportDue(ctx context.Context, peer string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM daemon_report_due WHERE peer = ?`, peer).Scan(&n); err != nil {
		return false, fmt.Errorf("full report due to %s: %w", peer, err)
	}
	return n > 0, nil
}

// reportSent records that peer got a full report in full.
func (s *source) reportSent(ctx context.Context, peer string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM daemon_report_due WHERE peer = ?`, peer); err != nil {
		return fmt.Errorf("full report sent to %s: %w", peer, err)
	}
	return nil
}
