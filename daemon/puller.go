package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/realsync/real/rpc"
)

// pullWait is how long a Pull may wait at the other peer for news.
const pullWait = 25 * time.Second

// puller fetches a peer's history over the connection this peer opens
// (Pull), for when that peer cannot call us: we have no listening address,
// or it has none of ours, or its calls fail. While the peer's own sender
// reaches us it answers Pushing and the puller only checks again now and
// then. What it gets is applied exactly as Notify and Report would.
type puller struct {
	peer   *peerState
	client *rpc.Client
	recv   *receiver
	log    *slog.Logger
}

func (p *puller) run(ctx context.Context) {
	retry(ctx, p.log, p.session)
}

func (p *puller) session(ctx context.Context) (bool, error) {
	after, err := p.recv.cache.Progress(ctx, p.peer.name)
	if err != nil {
		return false, err
	}
	catchUp, err := p.recv.NeedsReport(ctx, p.peer.name)
	if err != nil {
		return false, err
	}
	var reportAfter, reportProgress uint64
	connected := false
	for {
		req := rpc.Pull{Arenas: p.recv.arenas, Progress: after, CatchUp: catchUp,
			ReportAfter: reportAfter, ReportProgress: reportProgress, Wait: pullWait}
		cctx, cancel := context.WithTimeout(ctx, pullWait+callTimeout)
		r, err := p.client.Pull(cctx, req)
		cancel()
		if ctx.Err() != nil {
			return connected, ctx.Err()
		}
		if err != nil {
			return connected, err
		}
		connected = true
		switch {
		case r.Pushing:
			select {
			case <-ctx.Done():
				return true, ctx.Err()
			case <-time.After(refresh):
			}
			return true, errRefresh
		case r.Report != nil:
			if err := p.recv.Report(ctx, p.peer.name, *r.Report); err != nil {
				return true, err
			}
			if r.Report.Begin {
				reportProgress = r.Report.Progress
			}
			if r.Report.End {
				after, catchUp, reportAfter, reportProgress = r.Report.Progress, false, 0, 0
			} else if n := len(r.Report.Entries); n > 0 {
				reportAfter = r.Report.Entries[n-1].Index
			}
		default:
			if len(r.Entries) > 0 {
				if _, err := p.recv.Notify(ctx, p.peer.name, r.Entries); err != nil {
					return true, err
				}
			}
			after = max(after, r.Through)
		}
	}
}
