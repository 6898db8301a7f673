package daemon

import (
	"context"
	"time"

	"github.com/realsync/real/config"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
	"github.com/realsync/real/rpc"
	"github.com/realsync/real/unreal"
)

// control serves ControlService on STORE/control.sock.
type control struct {
	name    string
	arenas  []string
	started time.Time
	ix      *index.Index
	cache   *unreal.Cache
	src     *source
	peers   peerSet
	order   []config.Peer
	reverse func(peer string) bool // a reverse connection with the peer is up
}

func (c *control) Status(ctx context.Context) (rpc.Status, error) {
	st := rpc.Status{Name: c.name, Arenas: c.arenas, Started: c.started}
	var err error
	if st.History, err = c.src.last(ctx); err != nil {
		return st, err
	}
	if st.Trimmed, err = c.src.trimmed(ctx); err != nil {
		return st, err
	}
	rows, err := c.ix.Count(ctx)
	if err != nil {
		return st, err
	}
	st.IndexRows = uint64(rows)
	if st.UnrealEntries, err = c.cache.Count(ctx); err != nil {
		return st, err
	}
	for _, cp := range c.order {
		p := c.peers[cp.Name]
		ps := rpc.PeerStatus{Name: p.name, Address: p.address,
			SentSinceStart: p.sent.Load(), ReceivedSinceStart: p.received.Load(), DuplicatesSinceStart: p.duplicates.Load(),
			ReportsSent: p.reportsSent.Load(), ReportsReceived: p.reportsRecv.Load()}
		ps.LastContact, ps.LastError, ps.Connected = p.snapshot()
		ps.Reverse = c.reverse != nil && c.reverse(p.name)
		if ps.Acked, err = c.ix.Acked(ctx, p.name); err != nil {
			return st, err
		}
		if st.History > ps.Acked {
			ps.Pending = st.History - ps.Acked
		}
		if ps.Received, err = c.cache.Progress(ctx, p.name); err != nil {
			return st, err
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

func (c *control) History(ctx context.Context, after uint64, limit int) ([]history.Entry, uint64, error) {
	t, err := c.src.trimmed(ctx)
	if err != nil {
		return nil, 0, err
	}
	es, err := c.ix.Since(ctx, after, limit)
	return es, t, err
}
