package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/realsync/real/config"
)

// An arena a peer takes out of its real.toml is no longer shared: the other
// peers stop listing its files of it (a full report sweeps them), and it
// refuses to serve them. Put back, its files there come again, also those
// that did not change meanwhile. Before, the others kept listing them for
// ever, read from a directory nobody watched any more.
func TestOwnArenaRemovedAndAddedBack(t *testing.T) {
	t.Run("push", func(t *testing.T) { testOwnArenaRemoved(t, false) })
	t.Run("pull", func(t *testing.T) { testOwnArenaRemoved(t, true) })
}

func testOwnArenaRemoved(t *testing.T, pull bool) {
	h := householdWith(t, func(c *config.Config) {
		c.Arenas = append(c.Arenas, config.Arena{Name: "extra"})
		if !pull {
			return
		}
		if c.Name == "a" {
			c.Peers[0].Address = "" // a cannot call b: b pulls a's history
		} else {
			c.Listen = ""
		}
	}, "a", "b")
	a, b := h["a"], h["b"]
	x, one := random(100), random(10)
	os.WriteFile(filepath.Join(a.mount, "extra", "x"), x, 0o644)
	os.WriteFile(a.path("one"), one, 0o644)
	eventually(t, "x on b", sameContent(filepath.Join(b.mount, "extra", "x"), x))
	eventually(t, "one on b", sameContent(b.path("one"), one))

	setArenas := func(names ...string) {
		t.Helper()
		a.stop(t)
		cfg, err := config.Load(a.store)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Arenas = nil
		for _, n := range names {
			cfg.Arenas = append(cfg.Arenas, config.Arena{Name: n})
		}
		if err := cfg.Save(a.store); err != nil {
			t.Fatal(err)
		}
		a.start(t)
	}
	setArenas("shared")
	eventually(t, "x gone from b", gone(filepath.Join(b.mount, "extra", "x")))
	two := random(20)
	os.WriteFile(a.path("two"), two, 0o644)
	eventually(t, "two on b", sameContent(b.path("two"), two))
	if err := sameContent(b.path("one"), one)(); err != nil {
		t.Fatalf("one of the arena a kept: %v", err)
	}

	setArenas("shared", "extra")
	eventually(t, "x on b again", sameContent(filepath.Join(b.mount, "extra", "x"), x))
}
