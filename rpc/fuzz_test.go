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
