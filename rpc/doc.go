// Package rpc is the peer-to-peer RPC layer of real: the Connect services of
// protobuf package real.v1 (generated into rpc/gen, which no other package
// imports), served and called over HTTP/2 on mutually authenticated TLS 1.3.
//
// Each side presents a self-signed certificate made from its Ed25519 identity
// key. A server accepts only the keys of its configured peers and tells its
// handlers which peer called; a client accepts only the server key pinned for
// that peer. There is no CA and no hostname check: the pinned key is the
// identity.
//
// Everything received is validated here (batch size, index order, kinds,
// arena and path names, blob sizes, ranges), so the History and Store the
// daemon implements only ever see well-formed calls. Errors cross the wire
// once: handlers return errors wrapping the sentinels below, the server maps
// them to Connect codes, and the client maps the codes back so errors.Is works
// on the caller's side.
//
// File content (StoreService.Read) goes through storeCodec, which reads each
// chunk from the Content straight into the message on the server and copies
// it straight into the caller's slice on the client (see README.md).
// StoreService.Tree serves a content's verified-chunk tree (blob.Outboard),
// hashed once per blob and kept in a bounded cache (tree_cache.go); Shutdown
// waits for the hashing it cancels. A reply the peer stops taking in (its
// HTTP/2 window stays shut) is abandoned after ServerConfig.StallTimeout
// without progress (stall.go).
//
// A peer without an address (it cannot be called) has its files read over
// a reverse connection it opens itself (reverse.go, offer.go): TLS as for
// a call but with ALPN ReverseProto, after which it serves StoreService
// (an Offer) and the Server it called is the HTTP/2 client
// (Server.ReverseClient). Only a peer pinned without an address may open
// one.
package rpc

import (
	"context"
	"io"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/identity"
)

// Peer is another peer as configured in real.toml.
type Peer struct {
	Name    string
	Key     identity.PublicKey
	Address string // HOST:PORT; "" when the peer cannot be called (it only calls us)
}

// History is implemented by the daemon. Calls arrive already validated; peer
// is the caller's configured name, learnt from its verified TLS key.
type History interface {
	// Arenas returns the arena names the calling peer should report to us,
	// and the last index of its history we have applied (0: none).
	Arenas(ctx context.Context, peer string) (arenas []string, progress uint64, err error)
	// Notify applies a batch of the calling peer's history and returns the
	// new progress. Indexes in batch are strictly increasing.
	Notify(ctx context.Context, peer string, batch []history.Entry) (progress uint64, err error)
}

// Store serves file content to peers.
type Store interface {
	// Open returns the content of arena/path if it still is version b;
	// otherwise an error wrapping ErrChanged (other version) or ErrNotFound
	// (no such file), or ErrUnknownArena. Read and Tree open the content
	// for every request.
	Open(ctx context.Context, peer, arena, path string, b blob.Hash) (Content, error)
}

// Content is an open file version. ReadAt returning io.EOF (or a short read)
// before Size means the content changed while it was read.
type Content interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Limits of the protocol.
const (
	// MaxBatch is the most notifications one Notify carries.
	MaxBatch = 10_000
	// MaxChunk is the most content bytes one ReadResponse carries.
	MaxChunk = 256 << 10
	// MaxNotifyBytes bounds an encoded NotifyRequest. It fits MaxBatch
	// entries of the longest arena and path tree accepts, so no valid batch
	// is refused for its size.
	MaxNotifyBytes = 96 << 20
	// maxSmallMessage bounds the other messages (ReadRequest, Arenas reply).
	maxSmallMessage = 16 << 20
)

// Wants is what a callee answers to Arenas: the arenas to report, the last
// index of the caller's history it has applied (for all of them), and
// whether it needs a full report first.
type Wants struct {
	Arenas   []string
	Progress uint64
	CatchUp  bool
	Chain    Chain // the fingerprint Progress stands for (zero: none)
}

// Report is one part of a full catch-up (mark and sweep): Begin discards
// what was staged, Entries are files the sender has (Link/Available, indexes
// of the history entries they come from, strictly increasing), End replaces
// everything the receiver had from the sender by the report and sets its
// progress to Progress (which Begin may announce too).
type Report struct {
	Begin    bool
	Entries  []history.Entry
	End      bool
	Progress uint64
	Chain    Chain // with End: the fingerprint of Progress (zero: none)
}

// Reporter is implemented by a History that takes full catch-ups; without
// it Report answers Unimplemented and Arenas never asks for one.
type Reporter interface {
	// NeedsReport tells whether the calling peer must send a full report.
	NeedsReport(ctx context.Context, peer string) (bool, error)
	// Report applies one part of the calling peer's report.
	Report(ctx context.Context, peer string, r Report) error
}

// Pull is a request for the callee's history by a caller the callee cannot
// call itself.
type Pull struct {
	Arenas         []string      // arenas the caller wants
	Progress       uint64        // last index of the callee's history the caller has
	CatchUp        bool          // the caller needs a full report
	ReportAfter    uint64        // a report in progress: last index received
	ReportProgress uint64        // a report in progress: what it stands for (0: none)
	Wait           time.Duration // how long the callee may wait for news, at most MaxPullWait
	HistoryID      string        // the callee's history id Progress stands for ("": none known)
	Chain          Chain         // the fingerprint Progress stands for (zero: none known)
}

// PullReply is the callee's next step: Pushing (it calls the caller itself),
// a part of a report, or entries through an index.
type PullReply struct {
	Pushing   bool
	Report    *Report
	Entries   []history.Entry
	Through   uint64
	HistoryID string // the callee's history id (see CheckHistoryID)
	Chain     Chain  // the fingerprint of Through (zero: none)
}

// Source is implemented by a History that serves Pull.
type Source interface {
	Pull(ctx context.Context, peer string, p Pull) (PullReply, error)
}

// MaxPullWait bounds Pull.Wait.
const MaxPullWait = 30 * time.Second
