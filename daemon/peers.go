package daemon

import (
	"sync"
	"sync/atomic"
	"time"
)

// connectedWithin: a peer counts as connected when a call with it succeeded
// this recently and the last call to it did not fail.
const connectedWithin = time.Minute

// peerState is what this run knows about its conversation with one peer.
type peerState struct {
	name, address string

	// recvMu serialises applying the peer's history (Notify, Report, Pull
	// replies), so that counting new against repeated entries is exact.
	recvMu sync.Mutex
	// reportID is the history id of the caller under which the report we
	// are taking from the peer began (reportOpen), guarded by recvMu: a
	// later part under another id is refused (receiver.report).
	reportID   string
	reportOpen bool

	sent, received, duplicates atomic.Uint64
	reportsSent, reportsRecv   atomic.Uint64

	// kick asks our sender's idle session with the peer to start over (the
	// peer pulled with a progress the session does not expect).
	kick chan struct{}

	mu          sync.Mutex
	lastContact time.Time
	lastErr     string
	pushing     bool // our sender's session with it is up
	// pulled is the highest index a Pull reply handed the peer, at
	// pulledAt: while our sender's session is down the peer pulls, and the
	// session that comes up waits for that reply to be applied rather than
	// sending the same entries again.
	pulled   uint64
	pulledAt time.Time
}

// contact records a call with the peer that succeeded (err nil) or failed.
func (p *peerState) contact(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr = err.Error()
		return
	}
	p.lastContact = time.Now()
	p.lastErr = ""
}

func (p *peerState) setPushing(on bool) {
	p.mu.Lock()
	p.pushing = on
	p.mu.Unlock()
}

// startPushing marks our sender's session as up and returns what Pull
// replies handed the peer before: from now on Pull answers Pushing.
func (p *peerState) startPushing() (pulled uint64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushing = true
	return p.pulled, p.pulledAt
}

// handOut records a Pull reply of entries through index through, unless our
// sender's session is up (false: the reply must be Pushing instead).
func (p *peerState) handOut(through uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pushing {
		return false
	}
	p.pulled, p.pulledAt = max(p.pulled, through), time.Now()
	return true
}

func (p *peerState) isPushing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pushing
}

func (p *peerState) snapshot() (last time.Time, lastErr string, connected bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastContact, p.lastErr, !p.lastContact.IsZero() && time.Since(p.lastContact) < connectedWithin && p.lastErr == ""
}

func newPeerState(name, address string) *peerState {
	return &peerState{name: name, address: address, kick: make(chan struct{}, 1)}
}

// restart kicks the sender's session.
func (p *peerState) restart() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// peerSet is every configured peer by name.
type peerSet map[string]*peerState
