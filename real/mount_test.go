package real

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

// mountEnv mounts an overlay of e.upper over e.lower (a plain directory
// standing in for the Unreal) at DIR/merged, unmounted at cleanup.
func (e *env) mount() string {
	e.t.Helper()
	merged := filepath.Join(e.dir, "merged")
	if err := os.MkdirAll(merged, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := MountOverlay(e.lower, e.upper, filepath.Join(e.dir, "work"), merged); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := Unmount(merged); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
		if m, _ := Mounted(merged); m {
			e.t.Errorf("%s still mounted after the test", merged)
		}
	})
	return merged
}

func TestMountedAndUnmount(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	merged := filepath.Join(e.dir, "merged")
	os.MkdirAll(merged, 0o755)
	if m, err := Mounted(merged); err != nil || m {
		t.Fatalf("Mounted before mount = %v, %v", m, err)
	}
	e.mount()
	if m, err := Mounted(merged); err != nil || !m {
		t.Fatalf("Mounted after mount = %v, %v", m, err)
	}
	if m, _ := Mounted(e.upper); m {
		t.Fatal("upper reported as a mount point")
	}
}

func TestMountOverlayClearError(t *testing.T) {
	privtest.Require(t)
	dir := t.TempDir()
	err := MountOverlay(filepath.Join(dir, "nolower"), dir, dir, dir)
	if err == nil || !strings.Contains(err.Error(), "nolower") {
		t.Fatalf("err = %v, want one naming the missing lower", err)
	}
	os.MkdirAll(filepath.Join(dir, "a,b"), 0o755)
	if err := MountOverlay(filepath.Join(dir, "a,b"), dir, dir, dir); err == nil || !strings.Contains(err.Error(), "','") {
		t.Fatalf("err = %v, want one about ','", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("got %q", got)
	}
	if got := unescapeMountinfo(`/x\04`); got != `/x\04` {
		t.Fatalf("got %q", got)
	}
}

func TestOpenServesOnlyTheIndexedVersion(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.upper, "A", "f"), "hello")
	write(t, filepath.Join(e.lower, "A", "remote"), "remote")
	e.catchUp()
	f, err := e.r.Open("A", "f", h("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "hello" {
		t.Fatalf("read %q", b[:n])
	}
	if _, err := e.r.Open("A", "f", h("other")); !errors.Is(err, ErrChanged) {
		t.Fatalf("other version: %v, want ErrChanged", err)
	}
	if _, err := e.r.Open("A", "remote", h("remote")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remote file: %v, want ErrNotFound", err)
	}
	if _, err := e.r.Open("A", "nope", blob.Hash{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
	write(t, filepath.Join(e.upper, "A", "f"), "hello, changed") // not indexed yet
	if _, err := e.r.Open("A", "f", h("hello")); !errors.Is(err, ErrChanged) {
		t.Fatalf("changed file: %v, want ErrChanged", err)
	}
}

// TestOpenServesRenamedRemoteFilesFromTheLower: a remote file and a remote
// dir renamed here are announced at their new paths with their blobs while
// their bytes stay in the lower; Open serves them from there, and only while
// the lower still shows that version.
func TestOpenServesRenamedRemoteFilesFromTheLower(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "f"), "remote f")
	write(t, filepath.Join(e.lower, "A", "d", "g"), "remote g")
	merged := e.mount()
	if err := os.Rename(filepath.Join(merged, "A", "f"), filepath.Join(merged, "A", "f2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(merged, "A", "d"), filepath.Join(merged, "A", "d2")); err != nil {
		t.Fatal(err)
	}
	e.catchUp()
	for path, data := range map[string]string{"f2": "remote f", "d2/g": "remote g"} {
		f, err := e.r.Open("A", path, h(data))
		if err != nil {
			t.Fatalf("open renamed %s: %v", path, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != data {
			t.Fatalf("renamed %s: read %q, %v; want %q", path, got, err, data)
		}
		if _, err := e.r.Open("A", path, h("other")); !errors.Is(err, ErrChanged) {
			t.Fatalf("renamed %s, other version: %v, want ErrChanged", path, err)
		}
	}
	// The peer's version changes under the renamed file (the index has
	// not followed yet): not served as the old blob.
	write(t, filepath.Join(e.lower, "A", "f"), "remote f, changed")
	if _, err := e.r.Open("A", "f2", h("remote f")); !errors.Is(err, ErrChanged) {
		t.Fatalf("renamed file whose lower changed: %v, want ErrChanged", err)
	}
	if err := os.Remove(filepath.Join(e.lower, "A", "d", "g")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.Open("A", "d2/g", h("remote g")); !errors.Is(err, ErrChanged) {
		t.Fatalf("file of a renamed dir whose lower is gone: %v, want ErrChanged", err)
	}
}
