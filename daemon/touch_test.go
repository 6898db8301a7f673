package daemon

import (
	"os"
	"testing"
	"time"
)

// TestTouchKeepsServing: a touch (mtime only) on A's file must not make A
// refuse to serve it to B.
func TestTouchKeepsServing(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	data := random(3000)
	os.WriteFile(a.path("t"), data, 0o644)
	eventually(t, "t on b", sameContent(b.path("t"), data))
	later := time.Now().Add(-time.Hour)
	if err := os.Chtimes(a.path("t"), later, later); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the watcher settle the touch
	// Re-read on b (direct I/O: the read goes to a again).
	eventually(t, "t still readable on b after a touch on a", sameContent(b.path("t"), data))
}
