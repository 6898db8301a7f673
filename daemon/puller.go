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
	// Our progress and the chain it stands for (see Chain), checked by the
	// peer before it resumes after it; each reply brings the next one.
	after, chain, err := p.recv.progressChain(ctx, p.peer.name)
	if err != nil {
		return false, err
	}
	catchUp, err := p.recv.needsReport(ctx, p.peer.name)
	if err != nil {
		return false, err
	}
	// The peer's history id our progress stands for: sent with each Pull;
	// each reply carries the peer's, and entries of another one are not
	// applied but answered with a request for a full report.
	hid, err := p.recv.peerHistory(ctx, p.peer.name)
	if err != nil {
		return false, err
	}
	var reportAfter, reportProgress uint64
	// The peer's history id the report we are taking comes from (set at
	// its Begin): a later part under another id is of a store that started
	// over between two parts, whose report after our cursor would be
	// applied on top of the old history's parts (see below).
	var reportHID string
	connected := false
	for {
		req := rpc.Pull{Arenas: p.recv.arenas, Progress: after, CatchUp: catchUp,
			ReportAfter: reportAfter, ReportProgress: reportProgress, Wait: pullWait, HistoryID: hid, Chain: chain}
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
		case r.Report != nil && !r.Report.Begin && reportProgress != 0 && r.HistoryID != reportHID:
			// The peer's store started over between two parts of the
			// report: this part goes on after our cursor in its new
			// history, and its end would stand for that one; mixed with
			// the parts of the old history already staged, the mark and
			// sweep would keep files the peer no longer has and miss
			// some it has. Not applied: the report starts over, and its
			// Begin discards what was staged (unreal's BeginCatchUp).
			p.log.Info("the peer's history started over during a full report (another history id): taking the report again from its beginning",
				"history_id", r.HistoryID, "report_of", reportHID, "report_after", reportAfter)
			catchUp, reportAfter, reportProgress, reportHID = true, 0, 0, ""
		case r.Report != nil:
			if err := p.recv.report(ctx, p.peer.name, r.HistoryID, *r.Report); err != nil {
				return true, err
			}
			if r.Report.Begin {
				reportProgress, reportHID = r.Report.Progress, r.HistoryID
			}
			if r.Report.End {
				after, catchUp, reportAfter, reportProgress, hid, reportHID = r.Report.Progress, false, 0, 0, r.HistoryID, ""
				chain = r.Report.Chain
			} else if n := len(r.Report.Entries); n > 0 {
				reportAfter = r.Report.Entries[n-1].Index
			}
		case r.HistoryID != "" && r.HistoryID != hid && after > 0:
			// Our progress stands for another history of the peer (its
			// store started over), or one of before history ids.
			p.log.Info("the peer's history started over (another history id): asking for a full report",
				"history_id", r.HistoryID, "ours_stands_for", hid)
			catchUp = true
		default:
			if r.HistoryID != hid {
				hid = r.HistoryID // no progress yet: it stands for this history from now on
			}
			// Also without entries (all of arenas we do not take): the
			// chain moves on to r.Through.
			if len(r.Entries) > 0 || !r.Chain.IsZero() {
				if _, err := p.recv.notify(ctx, p.peer.name, r.HistoryID, r.Entries, r.Chain); err != nil {
					return true, err
				}
			}
			if r.Through >= after {
				after, chain = r.Through, r.Chain
			}
		}
	}
}
