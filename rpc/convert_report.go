package rpc

import (
	"fmt"
	"time"

	"github.com/realsync/real/history"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
	"github.com/realsync/real/tree"
)

// checkReport validates a report part: a valid batch of files only.
func checkReport(r *Report, now time.Time) error {
	if err := checkBatch(r.Entries, now); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for i := range r.Entries {
		if e := &r.Entries[i]; !e.Kind.HasContent() {
			return fmt.Errorf("%w: report: notification %d (index %d): %s %q: a report lists files only (Link, Available)", ErrInvalid, i, e.Index, e.Kind, e.Path)
		}
	}
	if !r.Begin && !r.End && r.Progress != 0 {
		return fmt.Errorf("%w: report: progress %d without begin or end", ErrInvalid, r.Progress)
	}
	return nil
}

func encodeReport(r *Report, now time.Time) (*realv1.ReportRequest, error) {
	if err := checkReport(r, now); err != nil {
		return nil, err
	}
	req := &realv1.ReportRequest{Begin: r.Begin, End: r.End, Progress: r.Progress,
		Notifications: make([]*realv1.Notification, len(r.Entries)), Chain: chainToWire(r.Chain)}
	for i := range r.Entries {
		req.Notifications[i] = toWire(&r.Entries[i])
	}
	return req, nil
}

func decodeReport(req *realv1.ReportRequest, now time.Time) (Report, error) {
	batch, err := decodeBatch(&realv1.NotifyRequest{Notifications: req.GetNotifications()}, now)
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	r := Report{Begin: req.GetBegin(), Entries: batch, End: req.GetEnd(), Progress: req.GetProgress()}
	if r.Chain, err = chainFromWire(req.GetChain()); err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	return r, checkReport(&r, now)
}

// checkPull validates a pull request (either side).
func checkPull(p *Pull) error {
	if err := tree.CheckArenas(p.Arenas); err != nil {
		return fmt.Errorf("%w: pull: %w", ErrInvalid, err)
	}
	if p.Wait < 0 || p.Wait > MaxPullWait {
		return fmt.Errorf("%w: pull: wait %s, at most %s", ErrInvalid, p.Wait, MaxPullWait)
	}
	if err := CheckHistoryID(p.HistoryID); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if p.ReportProgress == 0 && p.ReportAfter != 0 {
		return fmt.Errorf("%w: pull: report_after %d without a report in progress", ErrInvalid, p.ReportAfter)
	}
	return nil
}

func encodePull(p *Pull) (*realv1.PullRequest, error) {
	if err := checkPull(p); err != nil {
		return nil, err
	}
	return &realv1.PullRequest{Arenas: p.Arenas, Progress: p.Progress, CatchUp: p.CatchUp,
		ReportAfter: p.ReportAfter, ReportProgress: p.ReportProgress, WaitMs: uint32(p.Wait / time.Millisecond),
		HistoryId: p.HistoryID, Chain: chainToWire(p.Chain)}, nil
}

func decodePull(req *realv1.PullRequest) (Pull, error) {
	if req.GetWaitMs() > uint32(MaxPullWait/time.Millisecond) {
		return Pull{}, fmt.Errorf("%w: pull: wait %d ms, at most %d", ErrInvalid, req.GetWaitMs(), MaxPullWait/time.Millisecond)
	}
	p := Pull{Arenas: req.GetArenas(), Progress: req.GetProgress(), CatchUp: req.GetCatchUp(),
		ReportAfter: req.GetReportAfter(), ReportProgress: req.GetReportProgress(),
		Wait: time.Duration(req.GetWaitMs()) * time.Millisecond, HistoryID: req.GetHistoryId()}
	var err error
	if p.Chain, err = chainFromWire(req.GetChain()); err != nil {
		return Pull{}, fmt.Errorf("pull: %w", err)
	}
	return p, checkPull(&p)
}

// checkPullReply validates a pull reply (either side): a report part, or a
// batch whose entries lie at or below Through.
func checkPullReply(r *PullReply, now time.Time) error {
	if err := CheckHistoryID(r.HistoryID); err != nil {
		return fmt.Errorf("pull reply: %w", err)
	}
	if r.Report != nil {
		if len(r.Entries) != 0 || r.Through != 0 {
			return fmt.Errorf("%w: pull reply: both a report and entries", ErrInvalid)
		}
		return checkReport(r.Report, now)
	}
	if err := checkBatch(r.Entries, now); err != nil {
		return fmt.Errorf("pull reply: %w", err)
	}
	if n := len(r.Entries); n > 0 && r.Entries[n-1].Index > r.Through {
		return fmt.Errorf("%w: pull reply: entry %d after through %d", ErrInvalid, r.Entries[n-1].Index, r.Through)
	}
	return nil
}

func encodePullReply(r *PullReply, now time.Time) (*realv1.PullResponse, error) {
	if err := checkPullReply(r, now); err != nil {
		return nil, err
	}
	res := &realv1.PullResponse{Pushing: r.Pushing, Through: r.Through, HistoryId: r.HistoryID, Chain: chainToWire(r.Chain)}
	if r.Report != nil {
		rep, err := encodeReport(r.Report, now)
		if err != nil {
			return nil, err
		}
		res.Report = rep
	}
	for i := range r.Entries {
		res.Notifications = append(res.Notifications, toWire(&r.Entries[i]))
	}
	return res, nil
}

func decodePullReply(res *realv1.PullResponse, now time.Time) (PullReply, error) {
	r := PullReply{Pushing: res.GetPushing(), Through: res.GetThrough(), HistoryID: res.GetHistoryId()}
	var err error
	if r.Chain, err = chainFromWire(res.GetChain()); err != nil {
		return r, fmt.Errorf("pull reply: %w", err)
	}
	if res.Report != nil {
		rep, err := decodeReport(res.Report, now)
		if err != nil {
			return r, fmt.Errorf("pull reply: %w", err)
		}
		r.Report = &rep
	}
	batch, err := decodeBatch(&realv1.NotifyRequest{Notifications: res.GetNotifications()}, now)
	if err != nil {
		return r, fmt.Errorf("pull reply: %w", err)
	}
	if len(batch) > 0 {
		r.Entries = batch
	}
	return r, checkPullReply(&r, now)
}

// entries of a history in wire form (the control service's history listing).
func entriesToWire(es []history.Entry) []*realv1.Notification {
	out := make([]*realv1.Notification, len(es))
	for i := range es {
		out[i] = toWire(&es[i])
	}
	return out
}
