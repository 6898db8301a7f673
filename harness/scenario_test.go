package harness_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/realsync/real/harness"
	"github.com/realsync/real/privtest"
)

// The scenarios run the real binary: two peers a and b sharing arena "shared".

const arena = "shared"

// twoPeers makes a household of a and b with arena "shared", both started.
func twoPeers(t *testing.T) (*harness.Household, *harness.Peer, *harness.Peer) {
	t.Helper()
	h := harness.New(t, harness.Setup{Peers: []string{"a", "b"}, Arenas: []harness.Arena{{Name: arena}}})
	a, b := h.Peer("a"), h.Peer("b")
	a.Start()
	b.Start()
	return h, a, b
}

// randomBytes returns n bytes that depend on the test and label only.
func randomBytes(t *testing.T, label string, n int) []byte {
	h := fnv.New64a()
	fmt.Fprint(h, t.Name(), "/", label)
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sameBytes says how got differs from want, or nil.
func sameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("content differs at byte %d: got %d bytes, want %d", i, len(got), len(want))
}

// shows waits until p's merged view has want at path.
func shows(t *testing.T, p *harness.Peer, path string, want []byte) {
	t.Helper()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		got, err := p.Read(path)
		if err != nil {
			return err
		}
		if err := sameBytes(got, want); err != nil {
			return fmt.Errorf("%s: %s: %w", p, path, err)
		}
		return nil
	})
}

// lacks waits until path is gone from p's merged view.
func lacks(t *testing.T, p *harness.Peer, path string) {
	t.Helper()
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		_, err := p.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			return fmt.Errorf("%s still shows %s", p, path)
		}
		return err
	})
}

// lists waits until directory dir of p's merged view holds exactly names.
func lists(t *testing.T, p *harness.Peer, dir string, names ...string) {
	t.Helper()
	slices.Sort(names)
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		got, err := p.ReadDir(dir)
		if err != nil {
			return err
		}
		if !slices.Equal(got, names) {
			return fmt.Errorf("%s: %s lists %q, want %q", p, dir, got, names)
		}
		return nil
	})
}

// (1) A file written on a appears on b with the same bytes.
func TestScenarioWrittenFileAppears(t *testing.T) {
	privtest.Require(t)
	_, a, b := twoPeers(t)
	files := map[string][]byte{
		"shared/small.bin":           randomBytes(t, "small", 3*1024+17),
		"shared/notes.txt":           []byte("hello from a\n"),
		"shared/dir/sub/deep.bin":    randomBytes(t, "deep", 5*1024),
		"shared/big.bin":             randomBytes(t, "big", 3<<20),
		"shared/empty":               {},
		"shared/dir/with space.data": randomBytes(t, "space", 1000),
	}
	for path, data := range files {
		a.Write(path, data)
	}
	for path, data := range files {
		shows(t, b, path, data)
	}
	lists(t, b, "shared", "big.bin", "dir", "empty", "notes.txt", "small.bin")
	lists(t, b, "shared/dir", "sub", "with space.data")
	fi, err := b.Stat("shared/big.bin")
	if err != nil || fi.Size() != 3<<20 {
		t.Fatalf("b: stat big.bin: %v, %v; want size %d", fi, err, 3<<20)
	}
}

// (2) An edit on a shows the new content on b.
func TestScenarioEditPropagates(t *testing.T) {
	privtest.Require(t)
	_, a, b := twoPeers(t)
	v1 := randomBytes(t, "v1", 4096)
	a.Write("shared/doc", v1)
	shows(t, b, "shared/doc", v1)

	v2 := randomBytes(t, "v2", 6000) // longer
	a.Write("shared/doc", v2)
	shows(t, b, "shared/doc", v2)

	v3 := []byte("short now")
	a.Write("shared/doc", v3)
	shows(t, b, "shared/doc", v3)
}

// (3) A delete on a removes the file from b's view, and only that file.
func TestScenarioDeletePropagates(t *testing.T) {
	privtest.Require(t)
	_, a, b := twoPeers(t)
	keep, doomed := randomBytes(t, "keep", 2048), randomBytes(t, "doomed", 2048)
	a.Write("shared/keep", keep)
	a.Write("shared/dir/doomed", doomed)
	shows(t, b, "shared/dir/doomed", doomed)
	shows(t, b, "shared/keep", keep)

	a.Remove("shared/dir/doomed")
	lacks(t, b, "shared/dir/doomed")
	shows(t, b, "shared/keep", keep)
}

// (4) Changes made in a's store while it is down reach b once it is back.
func TestScenarioChangesWhileStopped(t *testing.T) {
	privtest.Require(t)
	_, a, b := twoPeers(t)
	keep, edit, del := randomBytes(t, "keep", 1500), randomBytes(t, "edit", 2500), randomBytes(t, "del", 3500)
	a.Write("shared/keep", keep)
	a.Write("shared/edit", edit)
	a.Write("shared/del", del)
	shows(t, b, "shared/keep", keep)
	shows(t, b, "shared/edit", edit)
	shows(t, b, "shared/del", del)

	a.Stop()
	edited, added := randomBytes(t, "edited", 4000), randomBytes(t, "added", 4100)
	a.WriteUpper("shared/edit", edited)
	a.WriteUpper("shared/sub/added", added)
	a.RemoveUpper("shared/del")
	a.Start()

	shows(t, b, "shared/edit", edited)
	shows(t, b, "shared/sub/added", added)
	lacks(t, b, "shared/del")
	shows(t, b, "shared/keep", keep)
	lists(t, b, "shared", "edit", "keep", "sub")
	lists(t, a, "shared", "edit", "keep", "sub")
}

// status is the part of `real status --json` the scenarios read.
type status struct {
	History uint64 `json:"history"`
	Peers   []struct {
		Name     string `json:"name"`
		Acked    uint64 `json:"acked"`
		Pending  uint64 `json:"pending"`
		Received uint64 `json:"received"`
	} `json:"peers"`
}

func readStatus(t *testing.T, h *harness.Household, p *harness.Peer) status {
	t.Helper()
	out := h.Real(t, "status", "--store", p.Store, "--json")
	var st status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("real status --json of %s: %v\n%s", p, err, out)
	}
	return st
}

// (5) b restarted still shows a's files from its own cache (even while it
// cannot reach a), and a does not re-report what b already has.
func TestScenarioRestartedPeerKeepsCache(t *testing.T) {
	privtest.Require(t)
	h, a, b := twoPeers(t)
	files := map[string][]byte{
		"shared/one":     randomBytes(t, "one", 1024),
		"shared/two":     randomBytes(t, "two", 2048),
		"shared/d/three": randomBytes(t, "three", 3072),
	}
	for path, data := range files {
		a.Write(path, data)
	}
	for path, data := range files {
		shows(t, b, path, data)
	}
	// Wait until a knows b has everything, so the count below is settled.
	var before status
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		before = readStatus(t, h, a)
		for _, p := range before.Peers {
			if p.Name == "b" && p.Pending == 0 && p.Acked == before.History && before.History > 0 {
				return nil
			}
		}
		return fmt.Errorf("a's status: %+v, want b to have acknowledged all", before)
	})

	sentBefore := liveStatus(t, h, a).peer("b").SentSinceStart

	// Offline, b can only show what its cache kept.
	b.CutOff(t)
	b.Restart()
	names, err := b.ReadDir("shared")
	if err != nil || !slices.Equal(names, []string{"d", "one", "two"}) {
		t.Fatalf("b restarted offline lists shared as %q (%v), want its cached d, one, two", names, err)
	}
	for path, data := range files {
		fi, err := b.Stat(path)
		if err != nil || fi.Size() != int64(len(data)) {
			t.Fatalf("b restarted offline: stat %s: %v, %v; want size %d", path, fi, err, len(data))
		}
	}
	b.Heal(t)
	for path, data := range files {
		shows(t, b, path, data)
	}

	// a's history did not grow: nothing was re-indexed or re-reported as new.
	after := readStatus(t, h, a)
	if after.History != before.History {
		t.Errorf("a's history went from %d to %d entries across b's restart; want no new entries", before.History, after.History)
	}
	bst := readStatus(t, h, b)
	for _, p := range bst.Peers {
		if p.Name == "a" && p.Received != before.History {
			t.Errorf("b received up to %d of a's entries, want %d", p.Received, before.History)
		}
	}
	// a sent b no entry again after the restart, and b applied none again.
	if sent := liveStatus(t, h, a).peer("b").SentSinceStart; sent != sentBefore {
		t.Errorf("a sent b %d entries before b's restart and %d after; want none again", sentBefore, sent)
	}
	if p := liveStatus(t, h, b).peer("a"); p.ReceivedSinceStart != 0 || p.DuplicatesSinceStart != 0 {
		t.Errorf("b after its restart received %d entries (%d again); want none", p.ReceivedSinceStart, p.DuplicatesSinceStart)
	}
}

// (6) a killed with SIGKILL clears its state on the next start, and b
// still converges, with changes from before and after the crash.
func TestScenarioKilledPeerRecovers(t *testing.T) {
	privtest.Require(t)
	_, a, b := twoPeers(t)
	before := randomBytes(t, "before", 3000)
	a.Write("shared/before", before)
	shows(t, b, "shared/before", before)

	a.Kill()
	crashed := randomBytes(t, "crashed", 2222)
	a.WriteUpper("shared/crashed", crashed) // as if written just before the crash
	a.Start()

	after := randomBytes(t, "after", 3333)
	a.Write("shared/after", after)
	shows(t, a, "shared/before", before)
	shows(t, b, "shared/before", before)
	shows(t, b, "shared/crashed", crashed)
	shows(t, b, "shared/after", after)

	// And it still stops cleanly.
	a.Stop()
}

// A peer cut off from the network catches up once healed, both ways.
func TestScenarioCutOffPeerCatchesUp(t *testing.T) {
	privtest.Require(t)
	h, a, b := twoPeers(t)
	first := randomBytes(t, "first", 1000)
	a.Write("shared/first", first)
	shows(t, b, "shared/first", first)

	a.CutOff(t)
	before := readStatus(t, h, a).History
	fromA, fromB := randomBytes(t, "fromA", 2000), randomBytes(t, "fromB", 2100)
	a.Write("shared/fromA", fromA)
	b.Write("shared/fromB", fromB)
	// a has indexed its change, and it cannot have reached b.
	harness.Eventually(t, harness.DefaultTimeout, func() error {
		if st := readStatus(t, h, a); st.History <= before {
			return fmt.Errorf("a's history still at %d entries", st.History)
		}
		return nil
	})
	if _, err := b.Stat("shared/fromA"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b has a's change while a is cut off: %v", err)
	}
	a.Heal(t)

	shows(t, b, "shared/fromA", fromA)
	shows(t, a, "shared/fromB", fromB)
}
