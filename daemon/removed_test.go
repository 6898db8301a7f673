package daemon

import (
	"os"
	"testing"

	"github.com/realsync/real/config"
)

// A peer removed from real.toml takes its files out of the Unreal at the
// next start: nothing could read them any more (no client, and its calls
// are refused), so they must not stay listed.
func TestRemovedPeerFilesGo(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	x := random(100)
	os.WriteFile(a.path("x"), x, 0o644)
	eventually(t, "x on b", sameContent(b.path("x"), x))
	b.stop(t)
	cfg, err := config.Load(b.store)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Peers = nil
	if err := cfg.Save(b.store); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	eventually(t, "x gone from b", gone(b.path("x")))
}
