package daemon

import (
	"fmt"
	"os"
	"testing"

	"github.com/realsync/real/config"
)

// A peer renamed in real.toml (same key and address) keeps syncing both
// ways: its files leave the Unreal under the old name and come back under
// the new one, and what either side changes afterwards goes across.
func TestPeerRenamed(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	x, y := random(100), random(50)
	os.WriteFile(a.path("x"), x, 0o644)
	os.WriteFile(b.path("y"), y, 0o644)
	eventually(t, "x on b", sameContent(b.path("x"), x))
	eventually(t, "y on a", sameContent(a.path("y"), y))
	b.stop(t)
	cfg, err := config.Load(b.store)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Peers[0].Name = "alice"
	if err := cfg.Save(b.store); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	eventually(t, "x on b under a's new name", sameContent(b.path("x"), x))
	x2, z := random(120), random(30)
	os.WriteFile(a.path("x"), x2, 0o644)
	os.WriteFile(b.path("z"), z, 0o644)
	eventually(t, "x changed on b", sameContent(b.path("x"), x2))
	eventually(t, "z on a", sameContent(a.path("z"), z))
	eventually(t, "b's history all acknowledged by alice", func() error {
		if st := b.status(t); len(st.Peers) != 1 || st.Peers[0].Name != "alice" || st.Peers[0].Pending != 0 {
			return fmt.Errorf("b's status after renaming a: %+v", st.Peers)
		}
		return nil
	})
}
