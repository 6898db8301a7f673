package daemon

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/rpc"
)

// History chains (rpc.Chain). A history id tells a store that started
// over from the history its peers followed; it does not tell a store
// restored from a backup of its real.db: same id, but its history went
// back to the backup's last index M and grew again with other entries, so
// a peer at progress N > M would resume after N and miss the new entries
// M+1..N. So the sender keeps a chain value per entry (daemon_chain,
// c_i = history.Chain(c_{i-1}, entry i), c_0 the zero hash), filled lazily
// in index order, and at the trim point (daemon_trim.chain). It sends the
// chain of its position with every Notify batch (through the batch's last
// entry read, of any arena: an empty batch carries it too), with a full
// report's end and with every Pull reply; the receiver keeps the last one
// with its progress (daemon_peer_chain) and hands it back with Arenas or
// its next Pull. Before resuming after the receiver's progress the sender
// checks it (source.otherChain): a chain below that progress, outside our
// history, or with another value at its index asks for a full report.
// A peer that sends no chain (older, or none recorded yet) is not checked.

// legacyTrimChain is the chain value at a trim point made before chains:
// the chain goes on from it. Two stores that disagree only there get a
// full report, never a wrong resume (a restored store trimmed at the same
// point holds the same folded history).
var legacyTrimChain = blob.Of([]byte("real: history trimmed before chain values"))

// trimChain returns the trim point and the chain value there (0 and the
// zero hash: never trimmed).
func (s *source) trimChain(ctx context.Context) (uint64, blob.Hash, error) {
	var t int64
	var c []byte
	err := s.db.QueryRowContext(ctx, `SELECT through, chain FROM daemon_trim WHERE id = 1`).Scan(&t, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, blob.Hash{}, nil
	}
	if err != nil {
		return 0, blob.Hash{}, fmt.Errorf("chain at the trim point: %w", err)
	}
	if c == nil {
		return uint64(t), legacyTrimChain, nil
	}
	h, err := blob.FromBytes(c)
	if err != nil {
		return 0, blob.Hash{}, fmt.Errorf("chain at the trim point %d: %w", t, err)
	}
	return uint64(t), h, nil
}

// chainAt returns the chain value of our history at index x (that of the
// last entry at or below x), computing and storing the missing ones; ok is
// false when x lies outside our history (below the trim point or past the
// last entry). Call with s.mu held (either way): concurrent readers may
// compute the same rows, which are the same values.
func (s *source) chainAt(ctx context.Context, x uint64) (c blob.Hash, ok bool, err error) {
	t, c, err := s.trimChain(ctx)
	if err != nil || x < t {
		return blob.Hash{}, false, err
	}
	if x == t {
		return c, true, nil
	}
	l, err := s.ix.Last(ctx)
	if err != nil {
		return blob.Hash{}, false, err
	}
	if x > l {
		return blob.Hash{}, false, nil
	}
	from := t
	var idx int64
	var b []byte
	err = s.db.QueryRowContext(ctx, `SELECT idx, chain FROM daemon_chain WHERE idx > ? AND idx <= ? ORDER BY idx DESC LIMIT 1`,
		int64(t), int64(x)).Scan(&idx, &b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return blob.Hash{}, false, fmt.Errorf("chain at %d: %w", x, err)
	default:
		if c, err = blob.FromBytes(b); err != nil || c.IsZero() {
			return blob.Hash{}, false, fmt.Errorf("chain at %d: stored value %x: %w", idx, b, cmp.Or(err, blob.ErrBadHash))
		}
		if uint64(idx) == x {
			return c, true, nil
		}
		from = uint64(idx)
	}
	// Folded and stored a piece at a time: the first use after an upgrade
	// fills the whole history's values, and holding it all in memory at
	// once would cost a large history's size.
	for from < x {
		piece := cmp.Or(s.chainPiece, defaultChainPiece)
		es, err := s.ix.Since(ctx, from, piece)
		if err != nil {
			return blob.Hash{}, false, fmt.Errorf("chain at %d: %w", x, err)
		}
		n := 0
		for n < len(es) && es[n].Index <= x {
			n++
		}
		if c, err = s.storeChain(ctx, c, es[:n]); err != nil {
			return blob.Hash{}, false, err
		}
		if n < len(es) || len(es) < piece {
			break
		}
		from = es[len(es)-1].Index
	}
	return c, true, nil
}

// defaultChainPiece is how many entries chainAt folds and stores at a
// time (source.chainPiece, when not set).
const defaultChainPiece = 10_000

// storeChain folds entries (our history's, in index order, all of it after
// the position whose chain value is c) into c, stores the chain value of
// each and returns the last.
func (s *source) storeChain(ctx context.Context, c blob.Hash, entries []history.Entry) (blob.Hash, error) {
	if len(entries) == 0 {
		return c, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return blob.Hash{}, fmt.Errorf("store chain values: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO daemon_chain (idx, chain) VALUES (?, ?) ON CONFLICT (idx) DO NOTHING`)
	if err != nil {
		return blob.Hash{}, fmt.Errorf("store chain values: %w", err)
	}
	defer st.Close()
	for i := range entries {
		c = history.Chain(c, &entries[i])
		if _, err := st.ExecContext(ctx, int64(entries[i].Index), c.Bytes()); err != nil {
			return blob.Hash{}, fmt.Errorf("store chain value %d: %w", entries[i].Index, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return blob.Hash{}, fmt.Errorf("store chain values: %w", err)
	}
	return c, nil
}

// chainOfBatch returns our chain through the last of entries, read from our
// history after index after (all of it up to their last, of any arena): it
// folds them in hand instead of reading them again.
func (s *source) chainOfBatch(ctx context.Context, after uint64, entries []history.Entry) (rpc.Chain, error) {
	if len(entries) == 0 {
		return s.chainOf(ctx, after)
	}
	last := entries[len(entries)-1].Index
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok, err := s.stored(ctx, last); err != nil || ok {
		return rpc.Chain{Through: last, Hash: c}, err
	}
	c, ok, err := s.chainAt(ctx, after)
	if err != nil || !ok {
		return s.chainOfLocked(ctx, last) // after lies before the trim point now: the long way
	}
	if c, err = s.storeChain(ctx, c, entries); err != nil {
		return rpc.Chain{}, err
	}
	return rpc.Chain{Through: last, Hash: c}, nil
}

// stored returns the stored chain value of entry x, if there is one.
func (s *source) stored(ctx context.Context, x uint64) (blob.Hash, bool, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT chain FROM daemon_chain WHERE idx = ?`, int64(x)).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.Hash{}, false, nil
	}
	if err != nil {
		return blob.Hash{}, false, fmt.Errorf("chain at %d: %w", x, err)
	}
	c, err := blob.FromBytes(b)
	if err != nil || c.IsZero() {
		return blob.Hash{}, false, fmt.Errorf("chain at %d: stored value %x: %w", x, b, cmp.Or(err, blob.ErrBadHash))
	}
	return c, true, nil
}

// chainOf returns our chain at x as sent to a peer (zero when x lies
// outside our history: then the peer records none, and is not checked).
func (s *source) chainOf(ctx context.Context, x uint64) (rpc.Chain, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.chainOfLocked(ctx, x)
}

func (s *source) chainOfLocked(ctx context.Context, x uint64) (rpc.Chain, error) {
	if x == 0 {
		return rpc.Chain{}, nil
	}
	c, ok, err := s.chainAt(ctx, x)
	if err != nil || !ok {
		return rpc.Chain{}, err
	}
	return rpc.Chain{Through: x, Hash: c}, nil
}

// otherChain tells whether the chain a peer at progress holds says it
// followed another history than ours up to there (our store was restored
// from a backup and grew since), and logs why. Call with s.mu held.
func (s *source) otherChain(ctx context.Context, peer string, progress uint64, c rpc.Chain) (bool, error) {
	if c.IsZero() {
		return false, nil // none: an older peer, or nothing recorded yet
	}
	why := ""
	if c.Through < progress {
		why = "its chain stands for less than its progress"
	} else if ours, ok, err := s.chainAt(ctx, c.Through); err != nil {
		return false, err
	} else if !ok {
		why = "its chain stands for an index outside our history"
	} else if ours != c.Hash {
		why = "its chain differs from ours there"
	}
	if why == "" {
		return false, nil
	}
	s.log.Info("a peer's progress stands for another history of ours (a store restored from a backup?): a full report",
		"peer", peer, "progress", progress, "chain_through", c.Through, "why", why)
	return true, nil
}

// ProgressChain returns the chain of peer's history our progress of it
// stands for (rpc.Chainer; zero: none recorded).
func (r *receiver) ProgressChain(ctx context.Context, peer string) (rpc.Chain, error) {
	var t int64
	var b []byte
	err := r.db.QueryRowContext(ctx, `SELECT through, chain FROM daemon_peer_chain WHERE peer = ?`, peer).Scan(&t, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return rpc.Chain{}, nil
	}
	if err != nil {
		return rpc.Chain{}, fmt.Errorf("chain of %s: %w", peer, err)
	}
	h, err := blob.FromBytes(b)
	if err != nil {
		return rpc.Chain{}, fmt.Errorf("chain of %s: %w", peer, err)
	}
	return rpc.Chain{Through: uint64(t), Hash: h}, nil
}

// progressChain returns our progress of peer and the chain it stands for,
// read between two batches (under the peer's recvMu): a batch stores its
// chain after its progress, and read in between, the chain would stand for
// less than the progress (taken by the peer for another history).
func (r *receiver) progressChain(ctx context.Context, peer string) (uint64, rpc.Chain, error) {
	ps := r.peer(peer)
	ps.recvMu.Lock()
	defer ps.recvMu.Unlock()
	p, err := r.cache.Progress(ctx, peer)
	if err != nil {
		return 0, rpc.Chain{}, err
	}
	c, err := r.ProgressChain(ctx, peer)
	return p, c, err
}

// keepChain records c, which came with what brings our progress of peer
// on from progress, as the chain that progress stands for. A chain below the
// progress (a batch that crossed a later Pull reply) is not kept: the one
// kept stands for more. No chain (an older peer) forgets the recorded one,
// which would stand for less than the progress. Call it with the peer's
// recvMu held, before the batch or the report's end is applied (see notify).
func (r *receiver) keepChain(ctx context.Context, peer string, progress uint64, c rpc.Chain) error {
	var err error
	switch {
	case c.IsZero():
		_, err = r.db.ExecContext(ctx, `DELETE FROM daemon_peer_chain WHERE peer = ?`, peer)
	case c.Through >= progress:
		_, err = r.db.ExecContext(ctx, `INSERT INTO daemon_peer_chain (peer, through, chain) VALUES (?, ?, ?)
			ON CONFLICT (peer) DO UPDATE SET through = excluded.through, chain = excluded.chain`, peer, int64(c.Through), c.Hash.Bytes())
	}
	if err != nil {
		return fmt.Errorf("record chain of %s: %w", peer, err)
	}
	return nil
}

// putChainBack records c again as the chain of peer's progress, after a
// batch or a report's end whose chain keepChain recorded was not applied. Left undone (it is
// logged), the chain stays the one of the batch: the sender's own, past the
// progress, which resumes after the progress all the same.
// chainFirst records chain as peer's (keepChain, at progress through),
// then runs apply (the batch or the report's end, in the Unreal's own
// transaction), and puts the previous chain back when apply fails: see
// notify for why the chain goes first.
func (r *receiver) chainFirst(ctx context.Context, peer string, through uint64, chain rpc.Chain, apply func() error) error {
	prev, err := r.ProgressChain(ctx, peer)
	if err != nil {
		return err
	}
	if err := r.keepChain(ctx, peer, through, chain); err != nil {
		return err
	}
	if err := apply(); err != nil {
		r.putChainBack(ctx, peer, prev)
		return err
	}
	return nil
}

func (r *receiver) putChainBack(ctx context.Context, peer string, c rpc.Chain) {
	ctx = context.WithoutCancel(ctx) // also when the batch failed for a cancelled call
	var err error
	if c.IsZero() {
		_, err = r.db.ExecContext(ctx, `DELETE FROM daemon_peer_chain WHERE peer = ?`, peer)
	} else {
		_, err = r.db.ExecContext(ctx, `INSERT INTO daemon_peer_chain (peer, through, chain) VALUES (?, ?, ?)
			ON CONFLICT (peer) DO UPDATE SET through = excluded.through, chain = excluded.chain`, peer, int64(c.Through), c.Hash.Bytes())
	}
	if err != nil {
		r.log.Warn("putting back the chain of a peer after a batch not applied", "peer", peer, "err", err)
	}
}

var _ rpc.Chainer = (*receiver)(nil)
