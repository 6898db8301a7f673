package harness_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/realsync/real/harness"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/privtest"
)

// The protocol scenarios: three peers, one cut off; a SIGKILL during a
// batch; an impostor.

// live is `real status --json` of a running peer (from its control socket).
type live struct {
	Running bool       `json:"running"`
	History uint64     `json:"history"`
	Trimmed uint64     `json:"trimmed"`
	Peers   []livePeer `json:"peers"`
}

type livePeer struct {
	Name                 string `json:"name"`
	Connected            bool   `json:"connected"`
	Acked                uint64 `json:"acked"`
	Pending              uint64 `json:"pending"`
	Received             uint64 `json:"received"`
	SentSinceStart       uint64 `json:"sent_since_start"`
	ReceivedSinceStart   uint64 `json:"received_since_start"`
	DuplicatesSinceStart uint64 `json:"duplicates_since_start"`
	ReportsSent          uint64 `json:"reports_sent"`
	ReportsReceived      uint64 `json:"reports_received"`
	LastError            string `json:"last_error"`
}

func liveStatus(t *testing.T, h *harness.Household, p *harness.Peer) live {
	t.Helper()
	out := h.Real(t, "status", "--store", p.Store, "--json")
	var st live
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("real status --json of %s: %v\n%s", p, err, out)
	}
	if !st.Running {
		t.Fatalf("real status of %s: not running (control socket not answering)\n%s", p, out)
	}
	return st
}

func (st live) peer(name string) (p livePeer) {
	for _, q := range st.Peers {
		if q.Name == name {
			return q
		}
	}
	return p
}

// Three peers: c is cut off while a and b keep changing files (and c
// changes one of its own); once healed, all three show the same tree.
func TestPeersThreeOneCutOff(t *testing.T) {
	privtest.Require(t)
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b", "c"}, Arenas: []harness.Arena{{Name: arena}}})
	a, b, c := h.Peer("a"), h.Peer("b"), h.Peer("c")
	a.Start()
	b.Start()
	c.Start()
	common, doomed := randomBytes(t, "common", 1500), randomBytes(t, "doomed", 1600)
	a.Write("shared/common", common)
	a.Write("shared/doomed", doomed)
	for _, p := range []*harness.Peer{b, c} {
		shows(t, p, "shared/common", common)
		shows(t, p, "shared/doomed", doomed)
	}

	c.CutOff(t)
	edited, a1, b1, c1 := randomBytes(t, "edited", 2500), randomBytes(t, "a1", 1100), randomBytes(t, "b1", 1200), randomBytes(t, "c1", 1300)
	a.Write("shared/common", edited)
	a.Remove("shared/doomed")
	for i := range 20 {
		a.Write(fmt.Sprintf("shared/a/%02d", i), randomBytes(t, fmt.Sprint("a", i), 100+i))
	}
	a.Write("shared/a1", a1)
	b.Write("shared/sub/b1", b1)
	c.Write("shared/c1", c1)
	shows(t, b, "shared/a1", a1)
	shows(t, a, "shared/sub/b1", b1)
	if _, err := c.Stat("shared/a1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("c has a's change while cut off: %v", err)
	}

	c.Heal(t)
	for _, p := range []*harness.Peer{a, b, c} {
		shows(t, p, "shared/common", edited)
		shows(t, p, "shared/a1", a1)
		shows(t, p, "shared/sub/b1", b1)
		shows(t, p, "shared/c1", c1)
		lacks(t, p, "shared/doomed")
		lists(t, p, "shared", "a", "a1", "c1", "common", "sub")
	}
	want, err := a.ReadDir("shared/a")
	if err != nil || len(want) != 20 {
		t.Fatalf("a lists shared/a as %v (%v), want 20 files", want, err)
	}
	lists(t, c, "shared/a", want...)
	for i := range 20 {
		shows(t, c, fmt.Sprintf("shared/a/%02d", i), randomBytes(t, fmt.Sprint("a", i), 100+i))
	}
}

// b is killed with SIGKILL while a's history streams to it; restarted, it
// resumes after what it applied: nothing lost, nothing applied twice, and
// the counters show one batch sent again at most.
func TestPeersKilledDuringBatch(t *testing.T) {
	privtest.Require(t)
	h, a, b := twoPeers(t)
	const n = 3000
	dir := a.Path("shared/many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() { // writes through a's merged view while the test watches b
		defer wg.Done()
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), []byte(fmt.Sprint("file ", i)), 0o644); err != nil {
				werr = err
				return
			}
		}
	}()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		if got := liveStatus(t, h, b).peer("a").ReceivedSinceStart; got == 0 {
			return fmt.Errorf("b received nothing yet")
		}
		return nil
	})
	b.Kill()
	killedAt := liveStatusOrZero(t, h, a)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	b.Start()

	harness.Eventually(t, 3*harness.DefaultTimeout, func() error {
		got, err := b.ReadDir("shared/many")
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, g := range got {
			have[g] = true
		}
		var missing []string
		for i := range n {
			if name := fmt.Sprintf("f%05d", i); !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 || len(got) != n {
			return fmt.Errorf("b lists %d names in shared/many, want %d; %d missing, e.g. %v", len(got), n, len(missing), missing[:min(5, len(missing))])
		}
		return nil
	})
	for _, i := range []int{0, 1234, n - 1} {
		shows(t, b, fmt.Sprintf("shared/many/f%05d", i), []byte(fmt.Sprint("file ", i)))
	}
	var ast, bst live
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		ast, bst = liveStatus(t, h, a), liveStatus(t, h, b)
		if got := bst.peer("a").Received; got != ast.History {
			return fmt.Errorf("b applied a's history up to %d of %d", got, ast.History)
		}
		return nil
	})
	sent, dups := ast.peer("b").SentSinceStart, bst.peer("a").DuplicatesSinceStart
	t.Logf("a's history %d (at the kill: %d), a sent b %d entries, b applied %d after its restart and skipped %d it had",
		ast.History, killedAt, sent, bst.peer("a").ReceivedSinceStart, dups)
	// Only the one batch on its way at the kill may go again (a Notify b
	// applied but could not answer, or a Pull reply it never applied): the
	// sender and the puller do not both send after the restart (observed:
	// 0 extra in 5 runs, 2026-12-01).
	// The batch in flight may also count as not sent: b applied it and was
	// killed before its answer, so a resumes after it (observed: 157 of
	// 3000 applied that way, none sent twice).
	const batch = 1000
	if sent+batch < ast.History || sent > ast.History+batch {
		t.Errorf("a sent b %d entries for a history of %d; want each once, give or take the batch in flight at the kill", sent, ast.History)
	}
	if dups > batch {
		t.Errorf("b skipped %d entries it already had; want at most one batch", dups)
	}
}

func liveStatusOrZero(t *testing.T, h *harness.Household, p *harness.Peer) uint64 {
	return liveStatus(t, h, p).History
}

// An impostor (m's name, another key) gets nothing, and a logs the key it
// presented.
func TestPeersImpostorGetsNothing(t *testing.T) {
	privtest.Require(t)
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b", "m"}, Arenas: []harness.Arena{{Name: arena}}})
	a, b, m := h.Peer("a"), h.Peer("b"), h.Peer("m")
	// m's store gets a key nobody pinned: it still pins a and b.
	key := filepath.Join(m.Store, "identity.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	priv, err := identity.Generate(key)
	if err != nil {
		t.Fatal(err)
	}
	impostor := identity.Public(priv).String()
	a.Start()
	b.Start()
	m.Start()
	secret := randomBytes(t, "secret", 3000)
	a.Write("shared/secret", secret)
	shows(t, b, "shared/secret", secret)
	m.Write("shared/from-m", []byte("let me in"))
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		log := harness.Tail(a.LogPath, 10000)
		if !strings.Contains(log, "refused connection from an unknown key") || !strings.Contains(log, impostor) {
			return fmt.Errorf("a's log has no refusal naming the key %s", impostor)
		}
		return nil
	})
	st := liveStatus(t, h, a)
	if p := st.peer("m"); p.Connected || p.ReceivedSinceStart != 0 || p.SentSinceStart != 0 {
		t.Errorf("a's status of the impostor: %+v; want nothing exchanged", p)
	}
	if _, err := m.Stat("shared/secret"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the impostor sees a's file: %v", err)
	}
	if _, err := a.Stat("shared/from-m"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a shows the impostor's file: %v", err)
	}
	if mst := liveStatus(t, h, m); mst.peer("a").ReceivedSinceStart != 0 || mst.peer("a").LastError == "" {
		t.Errorf("the impostor's status of a: %+v; want nothing received and an error", mst.peer("a"))
	}
}

// b is frozen (SIGSTOP: its sockets stay open and its kernel keeps taking
// bytes in until the windows fill, but it answers nothing, not even HTTP/2
// pings) while a and c go on changing files: they reach each other as
// before, and c reads a's files; thawed (SIGCONT), b converges.
func TestPeersFrozenPeerHoldsUpNoOne(t *testing.T) {
	privtest.Require(t)
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b", "c"}, Arenas: []harness.Arena{{Name: arena}}})
	a, b, c := h.Peer("a"), h.Peer("b"), h.Peer("c")
	a.Start()
	b.Start()
	c.Start()
	first := randomBytes(t, "first", 3000)
	a.Write("shared/first", first)
	for _, p := range []*harness.Peer{b, c} {
		shows(t, p, "shared/first", first)
	}

	b.Process().Signal(syscall.SIGSTOP)
	thawed := false
	t.Cleanup(func() {
		if !thawed { // so that the household can stop it
			b.Process().Signal(syscall.SIGCONT)
		}
	})
	edited, fromA, fromC := randomBytes(t, "edited", 5000), randomBytes(t, "fromA", 6<<20), randomBytes(t, "fromC", 2000)
	a.Write("shared/first", edited)
	a.Write("shared/big", fromA) // more than one chunk: read with its tree
	c.Write("shared/sub/fromC", fromC)
	shows(t, c, "shared/first", edited)
	shows(t, c, "shared/big", fromA)
	shows(t, a, "shared/sub/fromC", fromC)
	// And a's status tells b apart: c is caught up, b has entries pending.
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		st := liveStatus(t, h, a)
		if pc, pb := st.peer("c"), st.peer("b"); pc.Pending != 0 || pb.Pending == 0 {
			return fmt.Errorf("a's status: c pending %d, b pending %d; want 0 and more", pc.Pending, pb.Pending)
		}
		return nil
	})

	b.Process().Signal(syscall.SIGCONT)
	thawed = true
	shows(t, b, "shared/first", edited)
	shows(t, b, "shared/big", fromA)
	shows(t, b, "shared/sub/fromC", fromC)
}
