package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Port is the port every peer listens on (each peer has its own address).
const Port = 7410

// Arena is an arena added on every peer of a household.
type Arena struct {
	Name string
	// Policy is "own" or "watch"; "" leaves real's default.
	Policy string
}

// Setup says what household New makes.
type Setup struct {
	// Peers are the peer names (see NewNetwork for the allowed names).
	Peers []string
	// Arenas are added on every peer.
	Arenas []Arena
	// NoListen are peers (of Peers) made without a listening address, as
	// a laptop behind NAT: `real init` without --listen, and pinned on
	// the others without --address (they read its files over the reverse
	// connection it opens). Their Addr is the zero value.
	NoListen []string
	// Bin, if set, is the program run instead of the built `real` (a
	// stand-in that keeps the same command-line contract, for testing the
	// harness itself).
	Bin string
}

// Household is a set of `real` peers that all know each other.
type Household struct {
	Net    *Network
	Bin    string
	Arenas []Arena
	// Dir is the household's temp dir: every store, mount dir and log is
	// below it.
	Dir   string
	peers []*Peer
	t     testing.TB
}

// Peer is one `real` peer of a household. Its methods that change files or
// processes fail the test on error; the ones that look (Read, Stat,
// ReadDir) return errors, for use in Eventually.
type Peer struct {
	*Node
	// Store is the peer's --store dir; Mount its --mount dir (the merged view).
	Store, Mount string
	// Addr is the address it listens on and that the others dial; the
	// zero value for a peer of Setup.NoListen.
	Addr netip.AddrPort
	// Key is its public key, as `real key` prints it.
	Key string
	// LogPath is the file its stdout and stderr go to, across restarts.
	LogPath string

	h      *Household
	proc   *Process
	starts int
}

// LogLines is how many lines of each peer's log are shown when a test fails.
const LogLines = 60

// New makes a household: the binary (built once), a network with a node per
// peer, and per peer a store (`real init`, every other peer pinned with
// `real peer add`, every arena added with `real arena add`) and a mount dir.
// No peer is started. In t.Cleanup, peers are stopped, the last lines of
// every log are shown if t failed, the namespaces are deleted, and t fails
// if any mount is left on the host under the household's dir.
func New(t testing.TB, s Setup) *Household {
	t.Helper()
	// TempDir first: its removal is then the last cleanup.
	dir := t.TempDir()
	t.Cleanup(func() { assertNoMounts(t, dir) })
	for _, n := range s.NoListen {
		if !slices.Contains(s.Peers, n) {
			t.Fatalf("harness: Setup.NoListen names %q, which is not in Setup.Peers %v", n, s.Peers)
		}
	}
	nw := NewNetwork(t, s.Peers...)
	h := &Household{Net: nw, Bin: s.Bin, Arenas: s.Arenas, Dir: dir, t: t}
	if h.Bin == "" {
		h.Bin = Binary(t)
	}
	t.Cleanup(func() {
		h.checkRaces(t)
		if t.Failed() {
			h.dumpLogs()
		}
	})
	for _, n := range nw.Nodes {
		p := &Peer{
			Node:    n,
			Store:   filepath.Join(dir, n.Name, "store"),
			Mount:   filepath.Join(dir, n.Name, "mount"),
			Addr:    netip.AddrPortFrom(n.IP, Port),
			LogPath: filepath.Join(dir, n.Name+".log"),
			h:       h,
		}
		if slices.Contains(s.NoListen, n.Name) {
			p.Addr = netip.AddrPort{}
		}
		if err := os.MkdirAll(p.Mount, 0o755); err != nil {
			t.Fatalf("harness: %v", err)
		}
		args := []string{"init", "--store", p.Store, "--name", p.Name}
		if p.Addr.IsValid() {
			args = append(args, "--listen", p.Addr.String())
		}
		h.real(t, args...)
		p.Key = strings.TrimSpace(h.real(t, "key", "--store", p.Store))
		if p.Key == "" || strings.Contains(p.Key, "\n") {
			t.Fatalf("harness: `real key --store %s` printed %q, want one line", p.Store, p.Key)
		}
		h.peers = append(h.peers, p)
	}
	for _, p := range h.peers {
		for _, o := range h.peers {
			if o != p {
				args := []string{"peer", "add", "--store", p.Store, "--name", o.Name, "--key", o.Key}
				if o.Addr.IsValid() {
					args = append(args, "--address", o.Addr.String())
				}
				h.real(t, args...)
			}
		}
		for _, a := range s.Arenas {
			args := []string{"arena", "add", "--store", p.Store, "--name", a.Name}
			if a.Policy != "" {
				args = append(args, "--policy", a.Policy)
			}
			h.real(t, args...)
		}
	}
	return h
}

// Peer returns the peer called name, failing the test if there is none.
func (h *Household) Peer(name string) *Peer {
	h.t.Helper()
	for _, p := range h.peers {
		if p.Name == name {
			return p
		}
	}
	h.t.Fatalf("harness: no peer %q", name)
	return nil
}

// Peers returns every peer, in the order of Setup.Peers.
func (h *Household) Peers() []*Peer { return append([]*Peer(nil), h.peers...) }

// Real runs the binary on the host with args (a short command such as
// `status --store S`) and returns its stdout; it fails t when it exits
// non-zero, showing stderr.
func (h *Household) Real(t testing.TB, args ...string) string {
	t.Helper()
	return h.real(t, args...)
}

func (h *Household) real(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, h.Bin, args...)
	cmd.Env = Environ()
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("harness: real %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func (h *Household) dumpLogs() {
	for _, p := range h.peers {
		if d := os.Getenv("REAL_TEST_KEEPLOGS"); d != "" {
			if b, err := os.ReadFile(p.LogPath); err == nil {
				_ = os.WriteFile(filepath.Join(d, strings.ReplaceAll(h.t.Name(), "/", "_")+"-"+p.Name+".log"), b, 0o644)
			}
		}
		tail := Tail(p.LogPath, LogLines)
		if tail == "" {
			tail = "(empty)"
		}
		h.t.Logf("--- last %d lines of peer %s's log %s ---\n%s", LogLines, p.Name, p.LogPath, tail)
	}
}

// raceReport is how the race detector starts a report.
const raceReport = "WARNING: DATA RACE"

// checkRaces fails t if a peer built with -race reported a data race in its
// log (a stopped or killed peer's exit code may not tell).
func (h *Household) checkRaces(t testing.TB) {
	for _, p := range h.peers {
		b, err := os.ReadFile(p.LogPath)
		if err == nil && bytes.Contains(b, []byte(raceReport)) {
			t.Errorf("harness: peer %s reported a data race; see %s (tail below)", p.Name, p.LogPath)
		}
	}
}

func assertNoMounts(t testing.TB, dir string) {
	t.Helper()
	left, err := MountsUnder("/proc/mounts", dir)
	if err != nil {
		t.Errorf("harness: %v", err)
		return
	}
	if len(left) > 0 {
		t.Errorf("harness: mounts left on the host under %s: %s", dir, strings.Join(left, ", "))
	}
}

// String names the peer in messages.
func (p *Peer) String() string { return fmt.Sprintf("peer %s", p.Name) }
