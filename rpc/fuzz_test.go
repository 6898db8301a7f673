package rpc

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// FuzzNotifyRequest feeds arbitrary bytes to the receiving side of Notify:
// decoding and validation never panic, and what passes is a valid batch.
func FuzzNotifyRequest(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good, err := encodeBatch(sampleBatch(), now)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*realv1.NotifyRequest{
		good,
		{},
		{Notifications: []*realv1.Notification{{Index: 1, Kind: 7, Path: "../x", Blob: []byte{1}}}},
		{Notifications: []*realv1.Notification{{Index: 2, Kind: realv1.Kind_KIND_UNLINK, Arena: "a", Path: "b\x00"}}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req realv1.NotifyRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			return
		}
		batch, err := decodeBatch(&req, now)
		if err != nil {
			return
		}
		// Whatever passed would be accepted again after a round trip.
		again, err := encodeBatch(batch, now)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		if _, err := decodeBatch(again, now); err != nil {
			t.Fatalf("re-encoded batch is refused: %v", err)
		}
	})
}

// FuzzReportAndPull feeds arbitrary bytes to the receiving side of Report
// and Pull (requests and replies): no panic, and what passes is valid.
func FuzzReportAndPull(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	files := sampleBatch()[:2]
	rep, err := encodeReport(&Report{Begin: true, Entries: files, End: true, Progress: 9}, now)
	if err != nil {
		f.Fatal(err)
	}
	pull, err := encodePull(&Pull{Arenas: []string{"docs"}, Progress: 3, Wait: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	reply, err := encodePullReply(&PullReply{Entries: files, Through: 100}, now)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []proto.Message{rep, pull, reply, &realv1.PullResponse{Report: rep}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rr realv1.ReportRequest
		if proto.Unmarshal(b, &rr) == nil {
			if r, err := decodeReport(&rr, now); err == nil {
				if _, err := encodeReport(&r, now); err != nil {
					t.Fatalf("decoded report does not encode: %v", err)
				}
			}
		}
		var pr realv1.PullRequest
		if proto.Unmarshal(b, &pr) == nil {
			if p, err := decodePull(&pr); err == nil {
				if _, err := encodePull(&p); err != nil {
					t.Fatalf("decoded pull does not encode: %v", err)
				}
			}
		}
		var ps realv1.PullResponse
		if proto.Unmarshal(b, &ps) == nil {
			if r, err := decodePullReply(&ps, now); err == nil {
				if _, err := encodePullReply(&r, now); err != nil {
					t.Fatalf("decoded pull reply does not encode: %v", err)
				}
			}
		}
	})
}
