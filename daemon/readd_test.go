package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/realsync/real/config"
)

// An arena removed from a peer's config and added back later is reported
// again in full: removing it dropped its files from the peer's Unreal, and
// the history of it sent meanwhile was left out.
func TestArenaRemovedAndAddedBack(t *testing.T) {
	h := householdWith(t, func(c *config.Config) {
		c.Arenas = append(c.Arenas, config.Arena{Name: "extra"})
	}, "a", "b")
	a, b := h["a"], h["b"]
	x, y := random(100), random(200)
	os.WriteFile(filepath.Join(a.mount, "extra", "x"), x, 0o644)
	eventually(t, "x on b", sameContent(filepath.Join(b.mount, "extra", "x"), x))

	setArenas := func(names ...string) {
		t.Helper()
		b.stop(t)
		cfg, err := config.Load(b.store)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Arenas = nil
		for _, n := range names {
			cfg.Arenas = append(cfg.Arenas, config.Arena{Name: n})
		}
		if err := cfg.Save(b.store); err != nil {
			t.Fatal(err)
		}
		b.start(t)
	}
	setArenas("shared")
	os.WriteFile(filepath.Join(a.mount, "extra", "y"), y, 0o644)
	one := random(10)
	os.WriteFile(a.path("one"), one, 0o644)
	eventually(t, "one on b", sameContent(b.path("one"), one))
	if st := b.status(t); slices.Contains(st.Arenas, "extra") {
		t.Fatalf("b still has arena extra: %v", st.Arenas)
	}

	setArenas("shared", "extra")
	eventually(t, "x on b again", sameContent(filepath.Join(b.mount, "extra", "x"), x))
	eventually(t, "y on b", sameContent(filepath.Join(b.mount, "extra", "y"), y))
}

// A peer that took none of our entries (all of an arena it did not have,
// so its progress stayed 0) and then adds that arena gets those entries:
// what we recorded about it ("at 0 it has all it wants through T") stood
// for its old arenas only.
func TestArenaAddedAtProgressZero(t *testing.T) {
	t.Run("push", func(t *testing.T) { testArenaAddedAtZero(t, false) })
	t.Run("pull", func(t *testing.T) { testArenaAddedAtZero(t, true) })
}

func testArenaAddedAtZero(t *testing.T, pull bool) {
	a, b := householdArenaOnA(t, "extra", pull)
	x := random(100)
	os.WriteFile(filepath.Join(a.mount, "extra", "x"), x, 0o644)
	eventually(t, "a's history of x handed to b", func() error {
		st := a.status(t)
		if pb := peerOf(st, "b"); st.History == 0 || pb.Pending != 0 || pb.Acked == 0 {
			return fmt.Errorf("a's history %d, status of b: %+v", st.History, pb)
		}
		return nil
	})
	b.stop(t)
	cfg, err := config.Load(b.store)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Arenas = append(cfg.Arenas, config.Arena{Name: "extra"})
	if err := cfg.Save(b.store); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	eventually(t, "x on b", sameContent(filepath.Join(b.mount, "extra", "x"), x))
}
