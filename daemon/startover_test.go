package daemon

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/realsync/real/config"
)

// A store that starts over (real.db and upper gone, same key and name: like
// `real init` again) begins a new history at index 1 while its peers still
// hold progress of the old one. Its peer must end with exactly the new
// view: first with a new history shorter than the old progress, then
// longer, then with a new history already past the old progress when they
// meet again (resuming "after N" would skip its first N entries).
func TestStoreStartsOver(t *testing.T) {
	t.Run("push", func(t *testing.T) { testStoreStartsOver(t, false) })
	t.Run("pull", func(t *testing.T) { testStoreStartsOver(t, true) })
}

// pair is a household of a and b; with pull, b has no listening address
// and a no address of b: b pulls a's history over its own connection.
func pair(t *testing.T, pull bool) (a, b *peer) {
	t.Helper()
	h := householdWith(t, func(c *config.Config) {
		if !pull {
			return
		}
		if c.Name == "a" {
			c.Peers[0].Address = "" // a cannot call b: b pulls a's history
		} else {
			c.Listen = ""
		}
	}, "a", "b")
	return h["a"], h["b"]
}

func testStoreStartsOver(t *testing.T, pull bool) {
	a, b := pair(t, pull)

	old := map[string][]byte{}
	for i := range 6 {
		old[fmt.Sprint("old-", i)] = random(100 + i)
	}
	for n, d := range old {
		os.WriteFile(a.path(n), d, 0o644)
	}
	eventually(t, "a's old files on b", sameTree(b, old))
	n0 := peerOf(b.status(t), "a").Received
	if n0 < 6 {
		t.Fatalf("b's progress of a is %d, want at least 6", n0)
	}

	// Fewer new entries than b's progress, then more.
	fewer := map[string][]byte{"new-0": random(300), "new-1": random(301)}
	a.startOver(t, fewer)
	eventually(t, "b has a's new view (fewer entries)", sameTree(b, fewer))
	more := maps.Clone(fewer)
	for i := range int(n0) + 3 {
		n := fmt.Sprint("more-", i)
		more[n] = random(50 + i)
		os.WriteFile(a.path(n), more[n], 0o644)
	}
	eventually(t, "b has a's new view (more entries)", sameTree(b, more))
	caughtUp(t, a, b)

	// A new history already past b's progress when they meet.
	n1 := peerOf(b.status(t), "a").Received
	past := map[string][]byte{}
	for i := range int(n1) + 5 {
		past[fmt.Sprint("past-", i)] = random(70 + i)
	}
	b.stop(t)
	a.startOver(t, past)
	if got := a.status(t).History; got <= n1 {
		t.Fatalf("a's new history has %d entries, want more than b's progress %d", got, n1)
	}
	b.start(t)
	eventually(t, "b has a's new view (history past its progress)", sameTree(b, past))
	caughtUp(t, a, b)

	// And history flows again after that.
	last := random(999)
	past["last"] = last
	os.WriteFile(a.path("last"), last, 0o644)
	eventually(t, "b has a's later change", sameTree(b, past))
}

// startOver stops p, removes its database, upper, work and lower dirs (it
// keeps its key and real.toml), puts files into the new upper's arena
// "shared" and starts it again: a store begun again from empty.
func (p *peer) startOver(t *testing.T, files map[string][]byte) {
	t.Helper()
	p.stop(t)
	for _, name := range []string{DBFile, DBFile + "-wal", DBFile + "-shm", "upper", "work", "lower"} {
		if err := os.RemoveAll(filepath.Join(p.store, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"upper/shared", "work", "lower"} {
		if err := os.MkdirAll(filepath.Join(p.store, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(p.store, "upper", "shared", n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.start(t)
}

// caughtUp checks that b's progress of a is a's last history index.
func caughtUp(t *testing.T, a, b *peer) {
	t.Helper()
	eventually(t, "b's progress at a's last index", func() error {
		last, got := a.status(t).History, peerOf(b.status(t), "a").Received
		if got != last {
			return fmt.Errorf("b's progress of a is %d, a's history ends at %d", got, last)
		}
		return nil
	})
}

// sameTree checks that p's arena "shared" holds exactly files.
func sameTree(p *peer, files map[string][]byte) func() error {
	return func() error {
		des, err := os.ReadDir(filepath.Join(p.mount, "shared"))
		if err != nil {
			return err
		}
		var got, want []string
		for _, de := range des {
			got = append(got, de.Name())
		}
		for n := range files {
			want = append(want, n)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s has %q, want %q", p.name, got, want)
		}
		for n, data := range files {
			b, err := os.ReadFile(p.path(n))
			if err != nil {
				return err
			}
			if !bytes.Equal(b, data) {
				return fmt.Errorf("%s: %d bytes differ from the %d written", n, len(b), len(data))
			}
		}
		return nil
	}
}
