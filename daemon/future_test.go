package daemon

import (
	"os"
	"testing"
	"time"
)

// A file whose mtime lies far in the future (touched to 2099, a clock that
// was wrong) still reaches the other peer, announced with the time it was
// recorded, and does not hold up the changes after it.
func TestFutureMtimeDoesNotBlockSync(t *testing.T) {
	h := household(t, "a", "b")
	a, b := h["a"], h["b"]
	future := random(100)
	if err := os.WriteFile(a.path("future"), future, 0o644); err != nil {
		t.Fatal(err)
	}
	far := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(a.path("future"), far, far); err != nil {
		t.Fatal(err)
	}
	after := random(200)
	if err := os.WriteFile(a.path("after"), after, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "future on b", sameContent(b.path("future"), future))
	eventually(t, "after on b", sameContent(b.path("after"), after))
	fi, err := os.Stat(b.path("future"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().After(time.Now().Add(time.Hour)) {
		t.Errorf("b shows mtime %s: the future mtime was announced as it is", fi.ModTime())
	}
	if fi, err := os.Stat(a.path("future")); err != nil || !fi.ModTime().Equal(far) {
		t.Errorf("a's own file: mtime %v, %v; want it untouched at %s", fi.ModTime(), err, far)
	}
}
