package daemon

import (
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
