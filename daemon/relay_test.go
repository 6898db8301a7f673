package daemon

import (
	"os"
	"testing"
)

// TestRenamedRemoteFileReadableEverywhere: b renames a file and a dir that
// only a holds (overlay keeps them as a metacopy with a redirect and a
// redirected dir: no data moves), and announces them at their new paths;
// c, and a itself, then read them there from b, which serves the bytes
// through its own lower layer (from a). Before, b refused ("no local
// file") and every other peer got EIO at the new paths. (The old paths stay
// on c: a holds them, and applying b's Unlinks to a's own files is sync,
// stage 3.)
func TestRenamedRemoteFileReadableEverywhere(t *testing.T) {
	h := household(t, "a", "b", "c")
	a, b, c := h["a"], h["b"], h["c"]

	one, two := random(300<<10), random(5<<20) // two spans chunks: read by the tree
	if err := os.MkdirAll(a.path("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.path("one"), one, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.path("dir/two"), two, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b sees a's files", sameContent(b.path("dir/two"), two))
	eventually(t, "b sees a's files", sameContent(b.path("one"), one))

	if err := os.Rename(b.path("one"), b.path("one-renamed")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b.path("dir"), b.path("dir-renamed")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{c, a} {
		eventually(t, p.name+" reads the renamed file from b", sameContent(p.path("one-renamed"), one))
		eventually(t, p.name+" reads the file of the renamed dir from b", sameContent(p.path("dir-renamed/two"), two))
	}
}
